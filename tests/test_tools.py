"""The repository scripts: workspace discovery, affected packages, releases, wheel origin."""

import json
import subprocess
import sys

import affected
import benchmark_report
import check_wheel_origin
import pytest
import release
import workspace

PACKAGES = ["gauss4d", "gnn-explain", "interp-tools", "kron-mle", "lowrank-compress", "ssm-core"]


def test_members_and_dependency_graph():
    members = workspace.members()
    assert sorted(members) == sorted(["accelerator-utils", *PACKAGES])
    for name in PACKAGES:
        assert workspace.closure(name) == ["accelerator-utils", name]
        assert members[name].path == workspace.ROOT / "packages" / name
    assert sorted(workspace.dependents("accelerator-utils")) == PACKAGES
    assert workspace.dependents("kron-mle") == []


def test_affected_packages():
    assert affected.affected(["packages/kron-mle/src/kron_mle/x.py"]) == ["kron-mle"]
    assert affected.affected(["shared/accelerator-utils/src/accelerator_utils/timing.py"]) == list(
        workspace.members()
    )
    assert affected.affected(["noxfile.py"]) == list(workspace.members())
    assert affected.affected(["README.md", "packages/kron-mle-old-notes.txt"]) == []


def test_release_bumps_only_and_requires_changelog_entry():
    pyproject = '[project]\nname = "kron-mle"\nversion = "0.1.9"\n'
    changelog = (
        "# Changelog\n\n## [Unreleased]\n\n### Added\n- fit\n\n## [0.1.9] - 2026-01-01\n- old\n"
    )
    new_py, new_cl, version = release.release_texts(pyproject, changelog, "minor", "2026-11-22")
    assert version == "0.2.0"
    assert 'version = "0.2.0"' in new_py
    assert (
        new_cl.index("## [Unreleased]")
        < new_cl.index("## [0.2.0] - 2026-11-22")
        < new_cl.index("- fit")
    )
    assert "## [0.1.9] - 2026-01-01" in new_cl
    assert release.release_texts(pyproject, changelog, "patch", "d")[2] == "0.1.10"
    assert release.release_texts(pyproject, changelog, "major", "d")[2] == "1.0.0"
    with pytest.raises(SystemExit, match="Unreleased"):
        release.release_texts(
            pyproject, "# Changelog\n\n## [Unreleased]\n\n## [0.1.9]\n", "patch", "d"
        )


def test_release_dry_run_changes_nothing():
    before = (workspace.ROOT / "packages/kron-mle/pyproject.toml").read_text()
    out = subprocess.run(
        [sys.executable, str(workspace.ROOT / "tools/release.py"), "kron-mle", "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "kron-mle:" in out and "dry run" in out
    assert (workspace.ROOT / "packages/kron-mle/pyproject.toml").read_text() == before


def test_workspace_distributions_come_from_the_workspace():
    """In this environment every member was installed from the workspace, never from an index
    (accelerator-utils and interp-tools are also names of unrelated projects on PyPI)."""
    for name, member in workspace.members().items():
        path = check_wheel_origin.origin(name)
        assert path is not None, f"{name} has no direct_url.json: installed from an index?"
        assert path.resolve() == member.path.resolve(), (name, path)


def test_wheel_origin_check_rejects_other_sources(tmp_path, capsys):
    assert check_wheel_origin.main(str(tmp_path), ["accelerator-utils"]) == 1
    assert "not from" in capsys.readouterr().err
    assert check_wheel_origin.main(str(tmp_path), ["surely-not-installed-pkg"]) == 1


def test_uv_environment_pins_cpu_torch_when_a_local_wheel_exists(tmp_path, monkeypatch):
    links = tmp_path / "wheels"
    links.mkdir()
    (links / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    env = workspace.uv_environment(tmp_path / "c")
    assert env["UV_FIND_LINKS"] == str(links)
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    assert (tmp_path / "c" / "cpu-torch-constraints.txt").read_text() == "torch==2.13.0+cpu\n"
    assert json.dumps(env)  # plain strings only


def test_nox_tag_selects_only_the_package_test_sessions():
    """`nox -t kron-mle` runs the package's isolated and wheel sessions, never its release."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nox",
            "-f",
            str(workspace.ROOT / "noxfile.py"),
            "-t",
            "kron-mle",
            "--list",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    selected = sorted(line.split()[1] for line in out.stdout.splitlines() if line.startswith("* "))
    assert selected == ["isolated(kron-mle)", "wheel(kron-mle)"]


def test_benchmark_report_prints_the_packages_own_numbers():
    """BENCHMARKS.md is built only from the packages' JSON reports: every figure appears with its
    target, anchor and verdict, and the summary counts met and missed targets per package."""
    from accelerator_utils import BenchmarkReport, compare

    rep = BenchmarkReport("pkg-a")
    rep.metric("speed-up", 12.345, "x", target=">= 10x", passed=True, anchor="paper: 8x")
    rep.metric("error", 3.2e-4, target="<= 1e-4", passed=False)
    rep.add(
        compare(
            {"slow": lambda: sum(range(2000)), "fast": lambda: 0},
            baseline="slow",
            title="toy",
            repeats=3,
            warmup=1,
            min_time_s=0.001,
        )
    )
    other = BenchmarkReport("pkg-b")
    other.metric("accuracy", 0.99, target=">= 0.95", passed=True)
    sections = [("pkg-a", [rep.to_dict()], 0, ""), ("pkg-b", [other.to_dict()], 2, "Traceback")]
    text = "\n".join(benchmark_report.build_report(sections, "CPU test", "quick"))

    assert "| [pkg-a](#pkg-a) | ran | 1 / 2 | error (0.00032 vs <= 1e-4) |" in text
    assert "| [pkg-b](#pkg-b) | **failed (2)** | 1 / 1 |  |" in text
    assert "| speed-up | 12.35 x | >= 10x | paper: 8x | yes |" in text
    assert "| error | 0.00032 | <= 1e-4 |  | **no** |" in text
    fast = rep.comparisons[0].row("fast")
    cpu = f"{1 / fast.cpu_ratio:.3g}x"
    assert f"| fast | {fast.median_s:.4g} | {fast.speedup:.3g}x | {cpu} |" in text
    assert "torch threads)" in "\n".join(t for t in text.splitlines() if t.startswith("Hardware:"))
    assert "Traceback" in text and "Machine: CPU test. Size: quick." in text
    plotted = benchmark_report.build_report(sections, "CPU test", "quick", {"pkg-a": "a.png"})
    at = plotted.index("## pkg-a")
    assert plotted[at + 3 : at + 6] == ["", "![pkg-a](a.png)", ""]  # after the status line
    caveat = "not yet a verdict"  # quick figures are judged against full-size targets
    assert caveat in text
    assert caveat not in "\n".join(benchmark_report.build_report(sections, "CPU test", "full"))


def test_benchmark_report_collects_only_benchmark_reports(tmp_path):
    """A package's script may write other JSON (raw tables) into the same folder."""
    from accelerator_utils import BenchmarkReport

    rep = BenchmarkReport("pkg-a")
    rep.metric("accuracy", 0.99, target=">= 0.95", passed=True)
    rep.write(tmp_path)
    (tmp_path / "raw_table.json").write_text('{"rows": [1, 2]}')
    (tmp_path / "list.json").write_text("[1, 2]")
    loaded = benchmark_report.load_reports(tmp_path)
    assert [r["package"] for r in loaded] == ["pkg-a"]
