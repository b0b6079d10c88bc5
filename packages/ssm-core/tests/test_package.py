"""The package is installed with the version its pyproject declares, and its CLI runs."""

import re
from pathlib import Path

import pytest

import ssm_core
from ssm_core.cli import main


def test_version_matches_pyproject():
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    declared = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M).group(1)
    assert ssm_core.__version__ == declared


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert ssm_core.__version__ in capsys.readouterr().out


def test_cli_bad_input_is_a_clear_error(capsys):
    assert main(["train-task", "markov", "--steps", "0"]) == 2
    assert "steps >= 1" in capsys.readouterr().err
    assert main(["bench", "--only", "fft"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
