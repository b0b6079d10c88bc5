"""Command line of lowrank-compress.

``lowrank-compress <model-dir> --params-removed 0.3 --method whiten --calib texts.txt --out DIR``
compresses a BERT-style sentence encoder (config.json, model.safetensors, tokenizer.json) and
saves it; ``lowrank-compress demo`` compresses the bundled MiniLM-L6 (or, without the
``minilm`` extra, a generated model) and prints the headline.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import torch

from accelerator_utils import hardware_summary, limit_threads, make_generator
from lowrank_compress import __version__
from lowrank_compress.allocation import STRATEGIES
from lowrank_compress.methods import METHODS


def _compress_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lowrank-compress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("model_dir", type=Path, help="BERT directory, or 'demo'")
    p.add_argument("--params-removed", type=float, required=True,
                   help="fraction of the encoder-linear parameters to remove, in (0, 1)")
    p.add_argument("--method", choices=METHODS, default="whiten")
    p.add_argument("--calib", type=Path, help="calibration texts, one per line (for fwsvd, "
                   "consecutive lines are taken as (anchor, positive) pairs)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--allocation", choices=STRATEGIES, default="uniform")
    p.add_argument("--rank-multiple", type=int, default=1)
    p.add_argument("--damping", type=float, default=0.0)
    p.add_argument("--refit", action="store_true", help="closed-form refit (method whiten)")
    p.add_argument("--threads", type=int, default=None)
    return p


def _read_texts(path: Path | None, method: str) -> list[str] | None:
    if path is None:
        if method != "svd":
            raise SystemExit(f"error: --method {method} needs calibration texts: --calib FILE")
        return None
    if not path.is_file():
        raise SystemExit(f"error: calibration file {path} does not exist")
    texts = [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    if len(texts) < 8:
        raise SystemExit(f"error: {path} holds {len(texts)} non-empty lines; give at least 8 "
                         "calibration texts (192 is a good number)")
    return texts


def _line_pairs(tok, texts: list[str], size: int = 16) -> list[tuple[dict, dict]]:
    """FWSVD's task: consecutive lines (1st, 2nd), (3rd, 4th)... as (anchor, positive) pairs,
    batched for the in-batch contrastive loss (write queries and passages alternately)."""
    even = texts[: len(texts) - len(texts) % 2]
    return [(tok(even[i : i + size : 2]), tok(even[i + 1 : i + size : 2]))
            for i in range(0, len(even), size)]


def run_compress(args: argparse.Namespace) -> int:
    from lowrank_compress import compress
    from lowrank_compress.fidelity import bert_forward, contrastive_loss
    from lowrank_compress.io import save_compressed
    from lowrank_compress.models.minilm import Tokenizer, load_bert

    texts = _read_texts(args.calib, args.method)
    if not (args.model_dir / "tokenizer.json").is_file():
        raise SystemExit(f"error: {args.model_dir} has no tokenizer.json: not a BERT directory")
    model, tok = load_bert(args.model_dir), Tokenizer(args.model_dir)
    calib = None if texts is None else [tok([t]) for t in texts]
    pairs = None if texts is None else _line_pairs(tok, texts)
    t0 = time.perf_counter()
    try:
        result = compress(model, args.params_removed, args.method, calib,
                          allocation=args.allocation, rank_multiple=args.rank_multiple,
                          damping=args.damping, refit=args.refit, forward=bert_forward,
                          loss_fn=contrastive_loss, fisher_batches=pairs, progress=None)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    seconds = time.perf_counter() - t0
    save_compressed(result.model, args.out, {"report": result.report.to_dict(),
                                             "source": str(args.model_dir)})
    for name in ("config.json", "tokenizer.json"):
        shutil.copy2(args.model_dir / name, args.out / name)
    print(result.report.to_markdown())
    print(f"saved to {args.out} in {seconds:.1f} s of compression")
    return 0


def run_demo(quick_eval: int = 100) -> int:
    """MiniLM-L6 at 30 % encoder-linear removal: svd vs whiten embedding cosine."""
    print(f"lowrank-compress {__version__} on {hardware_summary()}")
    try:
        from lowrank_compress.models.minilm import default_model_dir

        default_model_dir()
    except ImportError:
        return _synthetic_demo()
    from lowrank_compress.fidelity import prepare, run_one

    setup = prepare(n_calib=96, n_eval=quick_eval)
    rows = {m: run_one(setup, m, 0.3, with_retrieval=False)[0] for m in ("svd", "whiten")}
    for r in rows.values():
        print(f"{r.method:>7}: mean cosine to original {r.cosine:.4f}, "
              f"linear params removed {r.linear_reduction:.1%}")
    ratio = rows["whiten"].one_minus_cos / rows["svd"].one_minus_cos
    print(f"headline: MiniLM-L6 with 30% of encoder-linear parameters removed keeps cosine "
          f"{rows['whiten'].cosine:.3f} (whiten) vs {rows['svd'].cosine:.3f} (svd): "
          f"1-cos ratio whiten/svd = {ratio:.2f}")
    return 0


def _synthetic_demo() -> int:
    """Without MiniLM: a random MLP on anisotropic inputs, whiten vs svd layer error."""
    from lowrank_compress import compress

    g = make_generator(0)
    skip = torch.nn.utils.skip_init  # no draw from the global RNG
    model = torch.nn.Sequential(skip(torch.nn.Linear, 64, 128), torch.nn.GELU(),
                                skip(torch.nn.Linear, 128, 64))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.125, 0.125, generator=g)
    mix = torch.linalg.qr(torch.randn(64, 64, generator=g))[0]
    batches = [(torch.randn(256, 64, generator=g) * torch.logspace(0, -2, 64)) @ mix
               for _ in range(4)]
    err = {m: compress(model, 0.3, m, batches).report.mean_measured_error
           for m in ("svd", "whiten")}
    print("MiniLM extra not installed (pip install 'lowrank-compress[minilm]'): generated model")
    print(f"headline: at 30% removal, mean per-layer calibration error whiten {err['whiten']:.4f}"
          f" vs svd {err['svd']:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        demo = argparse.ArgumentParser(prog="lowrank-compress demo",
                                       description="compress MiniLM-L6 and print the headline")
        demo.add_argument("--eval", type=int, default=100, help="held-out sentences")
        return run_demo(demo.parse_args(argv[1:]).eval)
    args = _compress_parser().parse_args(argv)
    if not args.model_dir.is_dir():
        raise SystemExit(f"error: model directory {args.model_dir} does not exist")
    if args.threads:
        with limit_threads(args.threads):
            return run_compress(args)
    return run_compress(args)
