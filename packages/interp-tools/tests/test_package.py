"""The package is installed with the version its pyproject declares, and its CLI runs."""

import re
from pathlib import Path

import pytest

import interp_tools
from interp_tools.cli import main


def test_version_matches_pyproject():
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    declared = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M).group(1)
    assert interp_tools.__version__ == declared


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert interp_tools.__version__ in capsys.readouterr().out


def test_cli_maxofk_prove(capsys):
    assert main(["maxofk", "prove", "--seed", "1", "--strategy", "cubic", "subcubic-rank1"]) == 0
    out = capsys.readouterr().out
    assert "| cubic |" in out and "| subcubic (rank-1 EQKE) |" in out


def test_cli_sae_train_small(tmp_path, capsys):
    args = [
        "sae",
        "train",
        "--features",
        "16",
        "--dim",
        "8",
        "--p",
        "0.1",
        "--samples",
        "2000",
        "--steps",
        "30",
        "--batch-size",
        "64",
        "--out",
        str(tmp_path / "sae"),
    ]
    assert main(args) == 0
    assert "MMCS" in capsys.readouterr().out
    assert (tmp_path / "sae" / "sae.safetensors").is_file()
    assert (tmp_path / "sae" / "density.png").is_file()
