"""One entry point for a fresh machine with only Python: installs uv and nox, then runs nox.

    python3 tools/run.py test              # lint, each package alone, as a wheel, all together
    python3 tools/run.py demo              # each package's main job on built-in data
    python3 tools/run.py nox -t kron-mle   # any nox arguments

uv and nox go into ``.tools-venv`` (ignored by git); uv is pointed at the machine's CPU torch
wheel (see tools/workspace.py). Needs Python >= 3.11.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS_VENV = ROOT / ".tools-venv"
TOOL_REQUIREMENTS = ("uv>=0.5", "nox>=2024.10")
COMMANDS = {"test": [], "demo": ["-s", "demo"]}


def bin_dir() -> Path:
    return TOOLS_VENV / ("Scripts" if os.name == "nt" else "bin")


def bootstrap() -> None:
    """Create the tools environment once; reinstall if uv or nox are missing."""
    if (bin_dir() / "nox").exists() and (bin_dir() / "uv").exists():
        return
    print(f"run.py: installing {', '.join(TOOL_REQUIREMENTS)} into {TOOLS_VENV.name}", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS_VENV)
    subprocess.run(
        [
            str(bin_dir() / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *TOOL_REQUIREMENTS,
        ],
        check=True,
    )


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):
        sys.exit("tools/run.py needs Python >= 3.11")
    if not argv or (argv[0] not in COMMANDS and argv[0] != "nox"):
        sys.exit(__doc__)
    bootstrap()
    nox_args = argv[1:] if argv[0] == "nox" else COMMANDS[argv[0]] + argv[1:]
    env = os.environ | {
        "PATH": f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    return subprocess.run(
        [str(bin_dir() / "nox"), "-f", str(ROOT / "noxfile.py"), *nox_args], cwd=ROOT, env=env
    ).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
