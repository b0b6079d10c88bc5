"""Code language model: train a byte-level transformer on stdlib source, then compress it.

    python benchmarks/code_lm.py train --checkpoint /tmp/bytelm.pt   # 30 min, 1 thread, resumable
    python benchmarks/code_lm.py evaluate                             # ΔPPL per method and ratio

``train`` writes the shipped model (float16 safetensors, a few MB) to
``benchmarks/results/code_lm/model``; ``evaluate`` loads it (upcast to float32), compresses
the 24 block projections with every method at several ratios and reports the held-out
perplexity increase, side by side in one process. Results: ``results/code_lm/``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from accelerator_utils import (
    BenchmarkReport,
    atomic_write_json,
    atomic_write_text,
    hardware_summary,
    limit_threads,
    make_generator,
)
from lowrank_compress import compress
from lowrank_compress.codelm import (
    TrainConfig,
    fixed_windows,
    perplexity,
    random_windows,
    stdlib_corpus,
    train_bytelm,
)
from lowrank_compress.models.bytelm import (
    ByteLMConfig,
    lm_inputs,
    lm_loss,
    load_bytelm,
    save_bytelm,
    target_linears,
)

RESULTS = Path(__file__).parent / "results" / "code_lm"
MODEL_CONFIG = ByteLMConfig(context=256, d_model=192, n_layers=4, n_heads=4, d_ff=768)
TRAIN_CONFIG = TrainConfig(steps=2000, batch_size=16, lr=2e-3, warmup=60, time_budget_s=1800.0)
METHODS = ("svd", "fwsvd", "asvd", "whiten")
N_EVAL, N_CALIB, CALIB_BATCH = 192, 64, 8


def train(args: argparse.Namespace) -> None:
    train_data, test_data = stdlib_corpus()
    log_path = RESULTS / "train_log.jsonl"
    print(f"corpus: {train_data.size:,} train bytes, {test_data.size:,} held-out bytes")

    def log(step: int, loss: float, lr: float) -> None:
        line = {"step": step, "train_loss": loss, "lr": lr, "time": time.time()}
        with open(log_path, "a") as f:
            f.write(json.dumps(line) + "\n")
        print(line, flush=True)

    with limit_threads(args.threads):
        model, info = train_bytelm(train_data, MODEL_CONFIG, TRAIN_CONFIG, seed=0,
                                   checkpoint=args.checkpoint,
                                   log=log, progress=False)
        evals = fixed_windows(test_data, 256, MODEL_CONFIG.context + 1)
        info["heldout_ppl_float32"] = perplexity(model, evals)
    info.update(model_config=MODEL_CONFIG.__dict__, train_config=TRAIN_CONFIG.__dict__,
                hardware=hardware_summary(), threads=args.threads,
                train_bytes=int(train_data.size), heldout_bytes=int(test_data.size))
    save_bytelm(model, RESULTS / "model", metadata=info)
    shipped = load_bytelm(RESULTS / "model")
    with limit_threads(args.threads):
        info["heldout_ppl_shipped_float16"] = perplexity(shipped, evals)
    atomic_write_json(RESULTS / "train.json", info)
    print(info)


def _runs(quick: bool) -> list[tuple[str, float, str, bool]]:
    ratios = (0.2, 0.4) if quick else (0.1, 0.2, 0.3, 0.4, 0.5)
    runs = [(m, r, "uniform", False) for r in ratios for m in METHODS]
    runs += [("whiten", r, "uniform", True) for r in (0.2, 0.4)]
    runs += [("whiten", 0.4, a, False) for a in ("greedy", "sensitivity")]
    return runs


def evaluate(args: argparse.Namespace) -> None:
    """Compress the shipped model with every method; ΔPPL on held-out files, one process."""
    report = BenchmarkReport("lowrank-compress")
    model = load_bytelm(args.model)
    train_data, test_data = stdlib_corpus()
    ctx = model.config.context
    evals = fixed_windows(test_data, args.eval, ctx + 1)
    calib = list(random_windows(train_data, N_CALIB, ctx + 1, make_generator(1)).split(CALIB_BATCH))
    names = target_linears(model)
    rows, stats = [], None
    with limit_threads(args.threads):
        base = perplexity(model, evals)
        print(f"original held-out perplexity {base:.4f} (bytes^-1)", flush=True)
        for method, ratio, alloc, refit in _runs(args.quick):
            t0 = time.perf_counter()
            res = compress(model, ratio, method, calib, allocation=alloc, refit=refit,
                           targets=names, forward=lm_inputs, loss_fn=lm_loss,
                           statistics=stats, progress=False)
            seconds = time.perf_counter() - t0
            stats = stats or res.statistics
            ppl = perplexity(res.model, evals)
            rows.append({"method": method, "params_removed": ratio, "allocation": alloc,
                         "refit": refit, "ppl": ppl, "delta_ppl": ppl - base,
                         "mean_layer_error": res.report.mean_measured_error,
                         "linear_reduction": res.report.linear_reduction,
                         "model_reduction": res.report.model_reduction,
                         "compress_seconds": seconds})
            print(f"  {method:>6} {ratio:.0%} {alloc:>11} refit={refit}: ppl {ppl:.4f} "
                  f"(+{ppl - base:.4f}), layer err {rows[-1]['mean_layer_error']:.4f}", flush=True)
    _targets(report, rows, base)
    _table_and_plot(rows, base, args.out)
    report.metric("original held-out perplexity", base, "bytes^-1")
    report.write(args.out)
    print(report.to_markdown())


def _pick(rows, m, r, a="uniform", refit=False) -> dict:
    return next(x for x in rows if (x["method"], x["params_removed"], x["allocation"],
                                   x["refit"]) == (m, r, a, refit))


def _targets(report: BenchmarkReport, rows: list[dict], base: float) -> None:
    d = {(x["method"], x["params_removed"], x["allocation"], x["refit"]): x["delta_ppl"]
         for x in rows}
    w40, s40 = d["whiten", 0.4, "uniform", False], d["svd", 0.4, "uniform", False]
    report.metric("dPPL whiten / svd @40%", w40 / s40, "", target="<= 0.8",
                  passed=w40 <= 0.8 * s40)
    w20 = d["whiten", 0.2, "uniform", False]
    best = min(d["asvd", 0.2, "uniform", False], d["fwsvd", 0.2, "uniform", False])
    report.metric("dPPL whiten / min(asvd, fwsvd) @20%", w20 / best, "", target="<= 1",
                  passed=w20 <= best)
    r40 = d["whiten", 0.4, "uniform", True]
    report.metric("dPPL refit / whiten @40%", r40 / w40, "", target="<= 0.9",
                  passed=r40 <= 0.9 * w40)
    for a in ("greedy", "sensitivity"):
        report.metric(f"dPPL {a} / uniform @40% (whiten)", d["whiten", 0.4, a, False] / w40, "")


def _table_and_plot(rows: list[dict], base: float, out: Path) -> None:
    lines = [f"Original held-out perplexity: {base:.4f} per byte", "",
             "| method | allocation | refit | removed (block linears) | whole model | ppl | "
             "delta ppl | layer error |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for x in rows:
        lines.append(f"| {x['method']} | {x['allocation']} | {x['refit']} | "
                     f"{x['linear_reduction']:.1%} | {x['model_reduction']:.1%} | {x['ppl']:.4f} | "
                     f"{x['delta_ppl']:.4f} | {x['mean_layer_error']:.4f} |")
    atomic_write_text(out / "code_lm.md", "\n".join(lines) + "\n")
    atomic_write_json(out / "code_lm.json", {"original_ppl": base, "rows": rows,
                                                 "hardware": hardware_summary()})
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in METHODS:
        pts = [(x["params_removed"], x["delta_ppl"]) for x in rows
               if x["method"] == m and x["allocation"] == "uniform" and not x["refit"]]
        ax.plot(*zip(*pts), marker="o", label=m)
    refit = [(x["params_removed"], x["delta_ppl"]) for x in rows if x["refit"]]
    ax.plot(*zip(*refit), "k*", ms=10, label="whiten + refit")
    ax.set(xlabel="fraction of block-linear parameters removed", yscale="log",
           ylabel="held-out perplexity increase", title="Byte-level code LM (stdlib source)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "code_lm.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--checkpoint", default="/tmp/lowrank_bytelm.pt")
    t.add_argument("--threads", type=int, default=1)
    e = sub.add_parser("evaluate")
    e.add_argument("--quick", action="store_true", help="20 % and 40 % only")
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--model", type=Path, default=RESULTS / "model")
    e.add_argument("--eval", type=int, default=N_EVAL, help="held-out windows")
    e.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    (train if args.command == "train" else evaluate)(args)


if __name__ == "__main__":
    main()
