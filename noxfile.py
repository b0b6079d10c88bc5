"""Each package alone in a fresh environment, as a wheel, and all of them together.

Run through ``python3 tools/run.py ...`` (which installs uv and nox) or plainly with ``nox`` once
they are installed. ``nox -t kron-mle`` runs every session of one package. Environments are made
with uv; torch comes from the machine's CPU wheel when one is available (see tools/workspace.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent / "tools"))
import workspace

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "no"
nox.options.sessions = ["lint", "isolated", "wheel", "integration"]

ROOT = workspace.ROOT
MEMBERS = workspace.members()
NOX_TMP = ROOT / ".nox" / "_work"
LINT_TOOLS = ("ruff>=0.6", "deptry>=0.20", "import-linter>=2.0")
TEST_TOOLS = ("pytest>=8", "hypothesis>=6.100")


def _params(tagged: bool = True) -> list:
    """One parameter per package; tagged ones are what ``nox -t <package>`` selects."""
    return [nox.param(name, id=name, tags=[name] if tagged else []) for name in MEMBERS]


def _prepare(session: nox.Session) -> None:
    """uv settings for this machine and pinned thread counts for reproducible timings."""
    session.env.update(workspace.uv_environment(NOX_TMP))
    threads = str(os.cpu_count() or 1)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        session.env.setdefault(var, os.environ.get(var, threads))
    session.env["MPLBACKEND"] = "Agg"
    # Let each fresh environment cache bytecode: with PYTHONDONTWRITEBYTECODE set, every process
    # (pytest, each CLI subprocess) recompiles torch's lazily imported modules, seconds apiece.
    session.env["PYTHONDONTWRITEBYTECODE"] = None


def _check_torch(session: nox.Session) -> None:
    session.run("python", str(ROOT / "tools" / "check_torch.py"))


def _install_members(session: nox.Session, names: list[str], *extra: str) -> None:
    session.install(*(MEMBERS[n].rel for n in names), *extra)


@nox.session
@nox.parametrize("package", _params())
def isolated(session: nox.Session, package: str) -> None:
    """Only this package, its declared dependencies and the test tools; run its tests.

    A package that imports a sibling it did not declare fails here with ModuleNotFoundError.
    """
    _prepare(session)
    member = MEMBERS[package]
    _install_members(session, [package], *member.test_requirements)
    _check_torch(session)
    session.chdir(member.path)
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session
@nox.parametrize("package", _params())
def wheel(session: nox.Session, package: str) -> None:
    """Build this package and the workspace packages it needs as wheels, install them as a
    user would, check that none came from an index, and run the package's tests."""
    _prepare(session)
    dist = NOX_TMP / f"dist-{package}"
    shutil.rmtree(dist, ignore_errors=True)
    names = workspace.closure(package)
    for name in names:
        session.run(
            "uv",
            "build",
            "--wheel",
            "--quiet",
            "--out-dir",
            str(dist),
            MEMBERS[name].rel,
            external=True,
        )
    wheels = [
        str(next(dist.glob(f"{MEMBERS[n].module}-{MEMBERS[n].version}-*.whl"))) for n in names
    ]
    # Wheel files named on the command line are direct references: the resolver cannot take a
    # same-named project (accelerator-utils exists on PyPI) from the index instead.
    session.install(*wheels, *MEMBERS[package].test_requirements)
    session.run("python", str(ROOT / "tools" / "check_wheel_origin.py"), str(dist), *names)
    _check_torch(session)
    session.chdir(MEMBERS[package].path)
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """All packages installed together, plus the cross-package tests in tests/."""
    _prepare(session)
    _install_members(session, list(MEMBERS), *TEST_TOOLS, "nox>=2024.10")
    _check_torch(session)
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff; deptry (each package imports only what it declares); import-linter contracts."""
    _prepare(session)
    _install_members(session, list(MEMBERS), *LINT_TOOLS)
    _check_torch(session)
    session.run("ruff", "check", ".")
    for member in MEMBERS.values():
        session.chdir(member.path)
        session.run("deptry", "src")
    session.chdir(ROOT)
    session.run("lint-imports")


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """Each package's main job on its built-in default data, printing its headline result."""
    _prepare(session)
    _install_members(session, list(MEMBERS))
    _check_torch(session)
    for name in MEMBERS:
        session.log(f"=== {name} demo")
        session.run(name, "demo")


@nox.session(python=False, default=False)
@nox.parametrize("package", _params(tagged=False))  # never selected by `nox -t <package>`
def release(session: nox.Session, package: str) -> None:
    """Bump one package's version, move its [Unreleased] changelog entry under it, commit and tag
    ``<package>-vX.Y.Z``. Arguments after ``--`` go to tools/release.py (``--part``, ``--dry-run``)."""
    session.run(sys.executable, str(ROOT / "tools" / "release.py"), package, *session.posargs)


@nox.session(default=False)
def benchmarks(session: nox.Session) -> None:
    """Every package's benchmarks at a quick size (``-- --size full`` for heavy sizes), collected
    into BENCHMARKS.md with PNG plots."""
    _prepare(session)
    # a package's optional `bench` extra holds what only its benchmarks need
    targets = [f"{m.rel}[bench]" if "bench" in m.extras else m.rel for m in MEMBERS.values()]
    session.install(*targets, "matplotlib>=3.7")
    _check_torch(session)
    session.run("python", str(ROOT / "tools" / "benchmark_report.py"), *session.posargs)
