"""Release one package: bump its version, date its changelog entry, commit and tag.

    python3 tools/release.py kron-mle --part minor [--dry-run] [--no-commit]

Only that package's ``pyproject.toml`` and ``CHANGELOG.md`` change; the tag is
``<package>-vX.Y.Z``. The changelog must have a non-empty ``## [Unreleased]`` section, which
becomes ``## [X.Y.Z] - YYYY-MM-DD`` under a fresh empty ``[Unreleased]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys

import workspace

VERSION_LINE = re.compile(r'^version = "(\d+)\.(\d+)\.(\d+)"$', re.M)
UNRELEASED = re.compile(r"^## \[Unreleased\]\s*\n(.*?)(?=^## \[|\Z)", re.M | re.S)


def bump(version: tuple[int, int, int], part: str) -> tuple[int, int, int]:
    major, minor, patch = version
    if part == "major":
        return major + 1, 0, 0
    if part == "minor":
        return major, minor + 1, 0
    return major, minor, patch + 1


def release_texts(pyproject: str, changelog: str, part: str, today: str) -> tuple[str, str, str]:
    """New pyproject and changelog texts and the new version; raises if no changelog entry."""
    match = VERSION_LINE.search(pyproject)
    if match is None:
        raise SystemExit('pyproject.toml has no static `version = "X.Y.Z"` line')
    new = ".".join(map(str, bump(tuple(int(g) for g in match.groups()), part)))  # type: ignore[arg-type]
    entry = UNRELEASED.search(changelog)
    if entry is None or not entry.group(1).strip():
        raise SystemExit(
            "CHANGELOG.md needs a non-empty '## [Unreleased]' section before a release"
        )
    changelog = (
        changelog[: entry.start()]
        + f"## [Unreleased]\n\n## [{new}] - {today}\n{entry.group(1)}"
        + changelog[entry.end() :]
    )
    pyproject = pyproject[: match.start()] + f'version = "{new}"' + pyproject[match.end() :]
    return pyproject, changelog, new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("package", choices=sorted(workspace.members()))
    parser.add_argument("--part", choices=["major", "minor", "patch"], default="patch")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would change, write nothing"
    )
    parser.add_argument(
        "--no-commit", action="store_true", help="write the files but do not commit or tag"
    )
    args = parser.parse_args(argv)
    member = workspace.members()[args.package]
    py_path, cl_path = member.path / "pyproject.toml", member.path / "CHANGELOG.md"
    pyproject, changelog, new = release_texts(
        py_path.read_text(), cl_path.read_text(), args.part, dt.date.today().isoformat()
    )
    tag = f"{member.name}-v{new}"
    print(f"{member.name}: {member.version} -> {new} (tag {tag})")
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    py_path.write_text(pyproject)
    cl_path.write_text(changelog)
    if not args.no_commit:
        root = str(workspace.ROOT)
        subprocess.run(
            ["git", "-C", root, "commit", "-m", f"Release {tag}", "--", str(py_path), str(cl_path)],
            check=True,
        )
        subprocess.run(
            ["git", "-C", root, "tag", "-a", tag, "-m", f"{member.name} {new}"], check=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
