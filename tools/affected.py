"""Which packages a change touches, and their nox sessions.

    python3 tools/affected.py --base origin/main          # list affected packages
    python3 tools/affected.py --base HEAD~3 --run         # run `nox -t <pkg>` for each

A package is affected when a file under its folder changed, or a workspace package it depends on
is affected (a change in accelerator-utils affects every package). A change to the workspace's
own machinery (noxfile, tools/, the root pyproject, .ci/) affects everything.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import workspace


def is_machinery(path: str) -> bool:
    """The workspace's own machinery: a change here can break any package's sessions."""
    return path in ("noxfile.py", "pyproject.toml") or path.startswith(("tools/", ".ci/"))


def changed_files(base: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(workspace.ROOT), "diff", "--name-only", base, "--"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line]


def affected(files: list[str]) -> list[str]:
    members = workspace.members()
    if any(is_machinery(f) for f in files):
        return list(members)
    touched = {name for name, m in members.items() for f in files if f.startswith(m.rel + "/")}
    result = set(touched)
    for name in touched:
        result.update(workspace.dependents(name))
    return [name for name in members if name in result]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="HEAD", help="git revision to compare the work tree with")
    parser.add_argument(
        "--run", action="store_true", help="run the nox sessions of the affected packages"
    )
    args = parser.parse_args(argv)
    names = affected(changed_files(args.base))
    print("\n".join(names) if names else "no package affected")
    if args.run and names:
        return subprocess.run(
            [sys.executable, str(workspace.ROOT / "tools" / "run.py"), "nox", "-t", *names]
        ).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
