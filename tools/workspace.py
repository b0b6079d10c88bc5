"""The workspace's members, their dependencies on each other, and the uv environment for CI.

Used by the noxfile and the other scripts in tools/. Needs Python >= 3.11 (tomllib).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
MEMBER_GLOBS = ("shared/*", "packages/*")


@dataclass(frozen=True)
class Member:
    """One workspace package: its distribution name, folder and declared requirements."""

    name: str
    path: Path
    version: str
    requirements: tuple[str, ...]
    test_requirements: tuple[str, ...]
    extras: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


def _req_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


@cache
def members() -> dict[str, Member]:
    """Every workspace member by distribution name, shared base first."""
    found = {}
    for pattern in MEMBER_GLOBS:
        for pyproject in sorted(ROOT.glob(f"{pattern}/pyproject.toml")):
            data = tomllib.loads(pyproject.read_text())
            project = data["project"]
            found[project["name"]] = Member(
                name=project["name"],
                path=pyproject.parent,
                version=project["version"],
                requirements=tuple(project.get("dependencies", [])),
                test_requirements=tuple(data.get("dependency-groups", {}).get("test", [])),
                extras=tuple(project.get("optional-dependencies", {})),
            )
    return found


def workspace_deps(name: str) -> list[str]:
    """Workspace members that ``name`` declares as dependencies (direct only)."""
    names = members()
    return [n for n in (_req_name(r) for r in names[name].requirements) if n in names]


def closure(name: str) -> list[str]:
    """``name`` and every workspace member it needs, dependencies first."""
    order: list[str] = []

    def visit(n: str) -> None:
        for dep in workspace_deps(n):
            visit(dep)
        if n not in order:
            order.append(n)

    visit(name)
    return order


def dependents(name: str) -> list[str]:
    """Workspace members that need ``name``, directly or not (``name`` excluded)."""
    return [m for m in members() if m != name and name in closure(m)]


def _pip_find_links() -> list[str]:
    """find-links directories from the environment or pip's configuration files."""
    if os.environ.get("PIP_FIND_LINKS"):
        return os.environ["PIP_FIND_LINKS"].split()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    links = []
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".find-links"):
            links += value.strip().strip("'\"").split()
    return list(dict.fromkeys(links))


def cpu_torch_wheel(find_links: list[str]) -> tuple[str, str] | None:
    """(directory, version) of a local CPU-only torch wheel, if a find-links folder holds one."""
    for link in find_links:
        folder = Path(link.removeprefix("file://"))
        if folder.is_dir():
            for wheel in sorted(folder.glob("torch-*+cpu-*.whl")):
                return str(folder), wheel.name.split("-")[1]
    return None


def uv_environment(constraints_dir: Path) -> dict[str, str]:
    """Variables that make uv use the machine's CPU torch wheel and never download Python.

    uv does not read pip's configuration, so pip's find-links are passed as ``UV_FIND_LINKS``,
    and a constraints file pins torch to the local CPU build, so no CUDA packages are fetched.
    Nothing machine-specific is committed: this is computed on each run.
    """
    env = {"UV_PYTHON_DOWNLOADS": "never"}
    links = _pip_find_links()
    if links:
        env["UV_FIND_LINKS"] = " ".join(links)
    local = cpu_torch_wheel(links)
    if local is not None:
        constraints_dir.mkdir(parents=True, exist_ok=True)
        constraint = constraints_dir / "cpu-torch-constraints.txt"
        constraint.write_text(f"torch=={local[1]}\n")
        env["UV_CONSTRAINT"] = str(constraint)
    return env


if __name__ == "__main__":
    for m in members().values():
        print(f"{m.name:18} {m.version:8} {m.rel:28} needs {workspace_deps(m.name)}")
