"""Command line of gnn-explain.

``gnn-explain run --dataset ba-2motifs --explainer subgraphx --out DIR`` trains the dataset's
model, explains test instances, and writes a metrics table (Markdown + JSON) and pictures.
``gnn-explain demo`` explains BA-2Motifs graphs with the shipped pre-trained model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelerator_utils import (
    atomic_write_json,
    atomic_write_text,
    hardware_summary,
    limit_threads,
)
from gnn_explain import __version__
from gnn_explain.datasets import DATASETS, load_dataset
from gnn_explain.experiment import (
    Scores,
    accuracies,
    fit_if_needed,
    pick_instances,
    run_explainer,
    score_explanations,
    train_model,
)
from gnn_explain.explain import EXPLAINERS, SubgraphXConfig, make_explainer
from gnn_explain.metrics import characterization_score
from gnn_explain.plot import draw_explanation
from gnn_explain.pretrained import PRETRAINED, load_pretrained


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err
    if not all(0.0 <= v < 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"sparsity levels must lie in [0, 1), got {text!r}")
    return values


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPLAINERS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown explainer(s) {unknown or text!r}; choose from {', '.join(EXPLAINERS)}"
        )
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gnn-explain", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train, explain and score on a synthetic benchmark")
    run.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    run.add_argument(
        "--explainer", type=_names, default=["subgraphx"], help="one name or a comma-separated list"
    )
    run.add_argument("--out", type=Path, required=True, help="output directory")
    run.add_argument("--instances", type=int, default=10, help="instances to explain")
    run.add_argument("--sparsity", type=_floats, default=(0.5, 0.6, 0.7, 0.8))
    run.add_argument("--epochs", type=int, default=None, help="override training epochs")
    run.add_argument("--rollouts", type=int, default=20, help="SubgraphX rollouts")
    run.add_argument("--samples", type=int, default=100, help="SubgraphX Shapley samples")
    run.add_argument("--pictures", type=int, default=3, help="instances drawn per explainer")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument(
        "--retrain", action="store_true", help="train even where a shipped model exists (seed 0)"
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars (default: only on a terminal outside CI)",
    )
    sub.add_parser("demo", help="explain BA-2Motifs with the shipped model (under a minute)")
    for p in sub.choices.values():
        p.add_argument(
            "--threads",
            type=int,
            default=1,
            help="torch/BLAS threads (small graphs run fastest on one)",
        )
    return parser


def scores_table(scores: list[Scores]) -> str:
    """A Markdown table: one row per explainer; per sparsity level fid+ and fid- (probability)
    and the characterisation score of the accuracy forms."""
    levels = list(scores[0].by_sparsity)
    head = [
        "explainer",
        "time/expl",
        "forward calls",
        "graphs evaluated",
        "GT node AUC",
        "GT edge AUC",
        "prec@k",
    ]
    head += [f"fid+ / fid- / charact @{s:g} (achieved)" for s in levels]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in scores:
        auc = "n/a" if s.auc is None else f"{s.auc:.3f}"
        edge_auc = "n/a" if s.edge_auc is None else f"{s.edge_auc:.3f}"
        row = [
            s.explainer,
            f"{s.time_s:.3g} s",
            f"{s.forward_calls:.0f}",
            f"{s.graphs_evaluated:.0f}",
            auc,
            edge_auc,
            f"{s.precision:.3f}",
        ]
        row += [
            f"{v[1]:.3f} / {v[2]:.3f} / {characterization_score(v[3], v[4]):.3f} ({v[0]:.2f})"
            for v in s.by_sparsity.values()
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    if args.instances < 1:
        raise ValueError(f"--instances must be >= 1, got {args.instances}")
    dataset = load_dataset(args.dataset, seed=args.seed)
    shipped = [n for n, (_, ds_name, _) in PRETRAINED.items() if ds_name == dataset.name]
    if shipped and args.seed == 0 and args.epochs is None and not args.retrain:
        trained = accuracies(load_pretrained(shipped[0]), dataset)
        print(f"using the shipped model {shipped[0]} (--retrain to train one)")
    else:
        trained = train_model(dataset, seed=args.seed, epochs=args.epochs, progress=args.progress)
    print(
        f"{dataset.name}: test accuracy {trained.test_acc:.3f} "
        f"(train {trained.train_acc:.3f}, {trained.epochs_run} epochs, {trained.seconds:.1f} s)"
    )
    instances = pick_instances(dataset, trained.model, args.instances, seed=args.seed)
    if not instances:
        raise RuntimeError("the model classifies no test motif instance correctly; train longer")
    all_scores = []
    for name in args.explainer:
        kwargs = {}
        if name.startswith("subgraphx"):
            kwargs["config"] = SubgraphXConfig(
                rollouts=args.rollouts, num_samples=args.samples, seed=args.seed
            )
        explainer = make_explainer(name, **kwargs)
        fit_if_needed(explainer, trained.model, dataset, seed=args.seed, progress=args.progress)
        explanations = run_explainer(explainer, trained.model, instances, progress=args.progress)
        all_scores.append(score_explanations(trained.model, instances, explanations, args.sparsity))
        for i, (inst, ex) in enumerate(zip(instances[: args.pictures], explanations)):
            draw_explanation(
                inst.graph, ex, args.out / f"{name}_{i}.png", size=int(inst.node_gt.sum())
            )
    table = scores_table(all_scores)
    print(table)
    atomic_write_text(
        args.out / "metrics.md",
        f"# {dataset.name}\n\n"
        f"Model test accuracy {trained.test_acc:.3f}; {len(instances)} "
        f"instances; {hardware_summary()}\n\n{table}\n",
    )
    atomic_write_json(
        args.out / "metrics.json",
        {
            "dataset": dataset.name,
            "test_accuracy": trained.test_acc,
            "instances": len(instances),
            "scores": [
                {**s.__dict__, "by_sparsity": {str(k): v for k, v in s.by_sparsity.items()}}
                for s in all_scores
            ],
        },
    )
    print(f"wrote {args.out / 'metrics.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with limit_threads(args.threads):
            if args.command == "run":
                return run_command(args)
            from gnn_explain.demo import demo

            return demo()
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        print(f"gnn-explain: error: {err}", file=sys.stderr)
        return 2
