"""Benchmark 5: the papers' synthetic tasks, timed, into a report (long: run alone).

* selective copying, Mamba vs the S4D (LTI) baseline, with length extrapolation;
* induction heads over several seeds (training is bimodal: report the success rate);
* Markov-chain ICL (order 1): Mamba's loss vs the add-one (Laplace) estimator's.

``--quick`` shortens every run to check the pipeline; ``--full`` uses the step counts meant
to reach the issue's targets (selective copy >= 99 %, Markov gap <= 0.005 nats, <= 10 min each).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from accelerator_utils import BenchmarkReport
from ssm_core.tasks import TaskConfig, train_task


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    steps = (
        {"copy": 3000, "induction": 2000, "markov": 2000}
        if args.full
        else {"copy": 40, "induction": 30, "markov": 30}
    )
    report = BenchmarkReport("ssm-core")
    for model in ("mamba", "s4d"):
        r = train_task(TaskConfig(task="selective-copy", model=model, steps=steps["copy"]))
        print(r.summary(), flush=True)
        report.metric(
            f"selective copy accuracy ({model})",
            r.accuracy,
            target=">= 0.99" if model == "mamba" else None,
            passed=r.accuracy >= 0.99 if model == "mamba" else None,
        )
        report.metric(
            f"selective copy train time ({model})",
            r.seconds,
            "s",
            target="<= 600 s",
            passed=r.seconds <= 600,
        )
        for f, acc in r.extrapolation.items():
            report.metric(f"selective copy accuracy at {f:g}x length ({model})", acc)
    wins = 0
    for seed in range(args.seeds):
        r = train_task(TaskConfig(task="induction", steps=steps["induction"], seed=seed))
        print(r.summary(), flush=True)
        wins += r.accuracy >= 0.99
    report.metric(
        "induction heads: seeds reaching 99 %", wins / args.seeds, anchor=f"{args.seeds} seeds"
    )
    r = train_task(TaskConfig(task="markov", steps=steps["markov"], d_model=32, n_layers=1))
    print(r.summary(), flush=True)
    gap = r.loss - r.baseline_loss
    report.metric("Markov ICL loss (Mamba, 1 layer)", r.loss, "nats")
    report.metric("Markov ICL add-one estimator loss", r.baseline_loss, "nats")
    report.metric("Markov ICL gap to add-one", gap, "nats", target="<= 0.005", passed=gap <= 0.005)
    report.metric(
        "Markov ICL train time", r.seconds, "s", target="<= 600 s", passed=r.seconds <= 600
    )
    path = report.write(args.out, "ssm-core-tasks" + ("" if args.full else "-quick"))
    print(report.to_markdown())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
