"""Every package installed together: importable side by side, each CLI answering."""

import importlib
import subprocess
import sys

import pytest
import workspace

MEMBERS = list(workspace.members().values())


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_imports_and_version(member):
    module = importlib.import_module(member.module)
    assert module.__version__ == member.version


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_cli_answers(member):
    out = subprocess.run(
        [sys.executable, "-m", member.module, "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert member.version in out.stdout


CHECK_SIDE_EFFECTS = """
import importlib, sys, torch
def state():
    return (torch.get_num_threads(), torch.get_float32_matmul_precision(), torch.get_default_dtype(),
            torch.random.get_rng_state().tolist())
before = state()
for name in sys.argv[1:]:
    importlib.import_module(name)
sys.exit(0 if state() == before else "importing changed a global torch setting")
"""


def test_importing_everything_changes_no_global_setting():
    """In a fresh interpreter: threads, matmul precision, default dtype and RNG state unchanged."""
    out = subprocess.run(
        [sys.executable, "-c", CHECK_SIDE_EFFECTS, *(m.module for m in MEMBERS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
