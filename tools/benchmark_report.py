"""Run every package's benchmarks and write one report, BENCHMARKS.md, with PNG plots.

    python3 tools/run.py nox -s benchmarks                 # quick sizes (default)
    python3 tools/run.py nox -s benchmarks -- --size full  # heavy sizes, opt-in

Each package with ``benchmarks/run.py`` is run as ``run.py --quick|--full --out DIR``; it writes
``accelerator_utils.BenchmarkReport`` JSON files there. This script collects them into tables
(headline metrics beside their target and anchor, side-by-side comparisons as speed-ups) and one
bar chart per package, naming the hardware.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import workspace

RESULTS = workspace.ROOT / ".benchmarks"
PLOTS = workspace.ROOT / "docs" / "benchmarks"


def run_package(member: workspace.Member, size: str, out: Path) -> tuple[int, str]:
    """Run one package's benchmark script; return its exit code and the tail of its output."""
    shutil.rmtree(out, ignore_errors=True)  # only this run's reports are collected
    out.mkdir(parents=True)
    proc = subprocess.run(
        [
            sys.executable,
            str(member.path / "benchmarks" / "run.py"),
            f"--{size}",
            "--out",
            str(out),
        ],
        cwd=member.path,
        capture_output=True,
        text=True,
    )
    return proc.returncode, (proc.stdout + proc.stderr)[-2000:]


def load_reports(out: Path) -> list[dict[str, Any]]:
    """The ``BenchmarkReport`` JSON files in ``out`` (a script may write other JSON beside them)."""
    reports = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    return [r for r in reports if isinstance(r, dict) and {"comparisons", "metrics"} <= r.keys()]


def plot_package(name: str, reports: list[dict[str, Any]], path: Path) -> bool:
    """Bar chart of every comparison's speed-ups over its baseline (log scale)."""
    bars = [
        (f"{c['title'][:40]}\n{r['name']}", r["speedup"])
        for rep in reports
        for c in rep["comparisons"]
        for r in c["rows"]
        if r["name"] != c["baseline"]
    ]
    if not bars:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(bars) + 1.2))
    labels, values = zip(*bars)
    ax.barh(range(len(bars)), values, color=["tab:green" if v >= 1 else "tab:red" for v in values])
    ax.set_yticks(range(len(bars)), labels, fontsize=7)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("speed-up over the baseline (x, log scale)")
    ax.set_title(f"{name}: side-by-side benchmarks")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _value(m: dict[str, Any]) -> str:
    return f"{m['value']:.4g} {m['unit']}".strip()


def _met(m: dict[str, Any]) -> str:
    return "" if m["passed"] is None else ("yes" if m["passed"] else "**no**")


def _cpu_speedup(row: dict[str, Any]) -> str:
    """Speed-up in process CPU time (reports from before it was recorded have none)."""
    ratio = row.get("cpu_ratio")
    if ratio is None or ratio != ratio or ratio <= 0:  # missing or NaN
        return "n/a"
    return f"{1.0 / ratio:.3g}x"


def summary_table(sections: list[tuple[str, list[dict[str, Any]], int]]) -> list[str]:
    """One row per package: how many of its targeted figures are met, and which are not."""
    lines = [
        "| package | script | targets met | not met |",
        "|---|---|---:|---|",
    ]
    for name, reports, code in sections:
        judged = [m for rep in reports for m in rep["metrics"] if m["passed"] is not None]
        missed = [f"{m['name']} ({_value(m)} vs {m['target']})" for m in judged if not m["passed"]]
        met = len(judged) - len(missed)
        lines.append(
            f"| [{name}](#{name}) | {'ran' if code == 0 else f'**failed ({code})**'} "
            f"| {met} / {len(judged)} | {'; '.join(missed)} |"
        )
    return [*lines, ""]


def package_section(
    name: str, reports: list[dict[str, Any]], status: str, plot: str | None = None
) -> list[str]:
    lines = [f"## {name}", "", status, ""]
    if plot:
        lines += [f"![{name}]({plot})", ""]
    hardware = sorted({rep["hardware"] for rep in reports if rep.get("hardware")})
    if hardware:
        lines += [f"Hardware: {'; '.join(hardware)}.", ""]
    metrics = [m for rep in reports for m in rep["metrics"]]
    if metrics:
        lines += ["| figure | measured | target | anchor | met |", "|---|---:|---|---|---|"]
        for m in metrics:
            lines.append(
                f"| {m['name']} | {_value(m)} | {m['target'] or ''} | {m['anchor'] or ''} | {_met(m)} |"
            )
        lines.append("")
    for rep in reports:
        for c in rep["comparisons"]:
            params = ", ".join(f"{k}={v}" for k, v in c["params"].items())
            lines += [
                f"**{c['title']}**" + (f" ({params})" if params else ""),
                "",
                f"| candidate | median (s) | speed-up over {c['baseline']} | in CPU time |",
                "|---|---:|---:|---:|",
            ]
            lines += [
                f"| {r['name']} | {r['median_s']:.4g} | {r['speedup']:.3g}x | {_cpu_speedup(r)} |"
                for r in c["rows"]
            ]
            lines.append("")
    return lines


def build_report(
    sections: list[tuple[str, list[dict[str, Any]], int, str]],
    hardware: str,
    size: str,
    plots: dict[str, str] | None = None,
) -> list[str]:
    """The Markdown lines of BENCHMARKS.md from each package's (name, reports, exit code, output
    tail). Every number is printed from the packages' JSON reports, nothing else."""
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {hardware}. Size: {size}. Each package's section names the torch thread "
        "count its comparisons ran with. Speed-ups are medians of per-round ratios of wall time; "
        "the CPU-time column is the same ratio in process CPU time, which other jobs on the "
        "machine do not inflate. Generated by `tools/benchmark_report.py` (`python3 tools/run.py nox -s benchmarks`); "
        "every figure comes from the packages' own benchmark scripts, run side by side in one "
        "process each.",
        "",
        *(
            [
                "Quick sizes are small enough for a laptop CPU in minutes; the targets are the "
                "issues' figures, stated for the packages' full sizes (`--size full`), so a quick "
                "figure marked not met is not yet a verdict on the package.",
                "",
            ]
            if size == "quick"
            else []
        ),
        "## At a glance",
        "",
        *summary_table([(name, reports, code) for name, reports, code, _ in sections]),
    ]
    for name, reports, code, tail in sections:
        status = (
            "Benchmarks ran."
            if code == 0
            else f"**The benchmark script failed (exit {code})**:\n\n```\n{tail}\n```"
        )
        lines += package_section(name, reports, status, (plots or {}).get(name))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["quick", "full"], default="quick")
    parser.add_argument(
        "--packages", nargs="*", help="only these packages (default: all with benchmarks)"
    )
    parser.add_argument("--output", type=Path, default=workspace.ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    import os

    import torch

    from accelerator_utils import atomic_write_text
    from accelerator_utils.environment import cpu_name

    members = [
        m
        for m in workspace.members().values()
        if (m.path / "benchmarks" / "run.py").exists()
        and (not args.packages or m.name in args.packages)
    ]
    sections, plots = [], {}
    for member in members:
        out = RESULTS / args.size / member.name
        code, tail = run_package(member, args.size, out)
        reports = load_reports(out)
        sections.append((member.name, reports, code, tail))
        png = PLOTS / f"{member.name}.png"
        if plot_package(member.name, reports, png):
            plots[member.name] = png.relative_to(args.output.parent).as_posix()
        print(f"{member.name}: exit {code}, {len(reports)} report(s)", flush=True)
    machine = f"CPU {cpu_name()}, {os.cpu_count()} logical cores"
    if torch.cuda.is_available():
        machine += f", GPU {torch.cuda.get_device_name()}"
    lines = build_report(sections, machine, args.size, plots)
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    return 1 if any(code != 0 for _, _, code, _ in sections) else 0


if __name__ == "__main__":
    raise SystemExit(main())
