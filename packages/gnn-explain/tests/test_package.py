"""The package is installed with the version its pyproject declares, and its CLI runs."""

import re
from pathlib import Path

import pytest

import gnn_explain
from gnn_explain.cli import main


def test_version_matches_pyproject():
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    declared = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M).group(1)
    assert gnn_explain.__version__ == declared


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert gnn_explain.__version__ in capsys.readouterr().out
