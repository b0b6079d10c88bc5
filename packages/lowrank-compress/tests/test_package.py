"""The package is installed with the version its pyproject declares, and its CLI runs."""

import re
from pathlib import Path

import pytest

import lowrank_compress
from lowrank_compress.cli import main


def test_version_matches_pyproject():
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    declared = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M).group(1)
    assert lowrank_compress.__version__ == declared


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert lowrank_compress.__version__ in capsys.readouterr().out
