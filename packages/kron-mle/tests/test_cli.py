"""CLI: fit on a .npy file (text and JSON), clear errors, the demo's headline."""

import json

import numpy as np

from kron_mle.cli import main


def test_fit_text_and_json(tmp_path, capsys):
    path = tmp_path / "data.npy"
    np.save(path, np.random.default_rng(0).standard_normal((12, 4, 3)))
    assert main(["fit", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "log-likelihood" in out and "existence: unique" in out and "method: flipflop" in out
    assert main(["fit", str(path), "--json", "--mean", "zero", "--method", "flipflop"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mean"] == "zero" and summary["converged"] and len(summary["factors"]) == 2


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.npy")]) == 2
    assert "not found" in capsys.readouterr().err
    path = tmp_path / "small.npy"
    np.save(path, np.ones((2, 6, 3)))
    assert main(["fit", str(path)]) == 2
    assert "no maximum likelihood estimate" in capsys.readouterr().err


def test_demo_headline(capsys):
    assert main(["demo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("headline:")
