"""Benchmarks 1-4 of the issue (SSD, S6 engines, S4D, decoding): ``python benchmarks/run.py
--quick`` (a few minutes) or ``--full``; JSON + Markdown into ``--out``. Threads are pinned
(``--threads``, default 1) and recorded in the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssm_core.bench import FULL, QUICK, run_benchmarks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true")
    size.add_argument("--full", action="store_true")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", default="ssd,scan,s4d,decode")
    p.add_argument("--retain-freed-memory", action="store_true", help="see run_benchmarks")
    p.add_argument("--name", help="result file name (default ssm-core or ssm-core-quick)")
    args = p.parse_args()
    which = tuple(w.strip() for w in args.only.split(","))
    name = args.name or ("ssm-core" if args.full else "ssm-core-quick")
    report = run_benchmarks(
        FULL if args.full else QUICK,
        threads=args.threads,
        which=which,
        out=args.out,
        name=name,
        retain_memory=args.retain_freed_memory,
    )
    print(report.to_markdown())  # written (inside the thread pin) by run_benchmarks
    print(f"wrote {args.out / name}.json")


if __name__ == "__main__":
    main()
