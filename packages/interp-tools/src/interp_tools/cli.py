"""Command line of interp-tools: ``sae train``, ``maxofk prove``, ``demo``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from accelerator_utils import hardware_summary, limit_threads, make_generator
from interp_tools import __version__


def _sae_train(args: argparse.Namespace) -> int:
    from interp_tools.sae import (
        SAEConfig,
        TrainConfig,
        density_histogram,
        evaluate_sae,
        save_sae,
        train_sae,
    )
    from interp_tools.toy import make_superposition, mcc, recovery_scores

    gen = make_generator(args.seed)
    data = None
    if args.activations:
        from safetensors.torch import load_file

        path = Path(args.activations)
        if not path.is_file():
            raise SystemExit(f"error: no activations file at {path}")
        x = load_file(path)["activations"].float()
        x_eval = x[torch.randperm(x.shape[0], generator=gen)[: min(20_000, x.shape[0])]]
    else:
        data = make_superposition(args.features, args.dim, args.p, seed=args.seed)
        x, _ = data.sample(args.samples, gen)
        x_eval, codes = data.sample(20_000, gen)
    k = args.k if args.k is not None else max(1, round(data.mean_l0) if data else 8)
    cfg = SAEConfig(
        x.shape[1],
        args.latents or (data.directions.shape[0] if data else 4 * x.shape[1]),
        kind=args.kind,
        k=k,
        l1_coeff=args.l1,
    )
    train = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        dead_after=args.dead_after,
        resample_every=args.resample_every,
    )
    t0 = time.perf_counter()
    result = train_sae(x, cfg, train, seed=args.seed)
    m = evaluate_sae(result.sae, x_eval)
    print(
        f"trained {cfg.kind} SAE {cfg.d_in}→{cfg.d_sae} in {time.perf_counter() - t0:.1f} s: "
        f"L0 {m.l0:.2f}, EV {m.explained_variance:.4f}, MSE {m.mse:.3g}, dead {m.dead_fraction:.3f}"
    )
    if data is not None:
        s = recovery_scores(data.directions, result.sae.W_dec.detach())
        score = mcc(codes, result.sae.encode(x_eval).detach())
        print(
            f"ground truth: MMCS {s.mmcs:.4f}, matched at |cos|>0.99 {s.frac_matched:.3f}, MCC {score:.4f}"
        )
    if args.out:
        out = save_sae(result.sae, args.out)
        density_histogram(m.densities, out / "density.png")
        print(f"saved to {out}")
    return 0


def _maxofk_prove(args: argparse.Namespace) -> int:
    from interp_tools.maxofk import (
        brute_force_accuracy,
        brute_force_accuracy_paths,
        cubic_bound,
        load_model,
        shipped_checkpoint,
        subcubic_bound,
    )

    model = load_model(args.checkpoint or shipped_checkpoint(args.seed))
    runs = {
        "cubic": cubic_bound,
        "subcubic": subcubic_bound,
        "subcubic-rank1": lambda m: subcubic_bound(m, eqke="rank1"),
        "brute-force": brute_force_accuracy,
        "paths": brute_force_accuracy_paths,
    }
    print("| strategy | operations | wall s | accuracy (bound) |")
    print("|---|---:|---:|---:|")
    for name in args.strategy:
        r = runs[name](model)
        print(f"| {r.strategy} | {r.flops:.3g} | {r.wall_s:.3g} | {r.accuracy:.5f} |")
    return 0


def _demo(_: argparse.Namespace) -> int:
    from interp_tools.maxofk import (
        correct,
        cubic_bound,
        load_model,
        shipped_checkpoint,
        subcubic_bound,
    )
    from interp_tools.sae import SAEConfig, TrainConfig, train_sae
    from interp_tools.toy import make_superposition, recovery_scores

    model = load_model(shipped_checkpoint(0))
    cubic, sub = cubic_bound(model), subcubic_bound(model)
    tokens = torch.randint(64, (100_000, 4), generator=make_generator(1))
    with torch.no_grad():
        sampled = float(correct(model(tokens)[:, -1], tokens).float().mean())
    print(
        f"Max-of-K seed 0: cubic proof ≥ {cubic.accuracy:.4f} ({cubic.wall_s:.2f} s), subcubic ≥ "
        f"{sub.accuracy:.4f}; sampled accuracy {sampled:.4f} (100k inputs)"
    )
    data = make_superposition(128, 32, p=0.03, seed=0)
    x, _ = data.sample(30_000, make_generator(2))
    t0 = time.perf_counter()
    sae = train_sae(
        x, SAEConfig(32, 128, kind="topk", k=4), TrainConfig(steps=400, batch_size=512, lr=3e-3)
    ).sae
    s = recovery_scores(data.directions, sae.W_dec.detach())
    print(
        f"TopK SAE on 128 toy features in 32 dims ({time.perf_counter() - t0:.1f} s): MMCS {s.mmcs:.4f}, "
        f"{100 * s.frac_matched:.1f}% matched at |cos| > 0.99"
    )
    print(
        f"headline: Max-of-K cubic proof certifies accuracy ≥ {cubic.accuracy:.4f} in "
        f"{cubic.wall_s:.2f} s (sampled {sampled:.4f}); toy TopK SAE MMCS {s.mmcs:.3f}"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interp-tools", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "demo", help="prove Max-of-K accuracy and recover toy SAE features"
    ).set_defaults(fn=_demo)

    sae = sub.add_parser("sae", help="sparse autoencoders").add_subparsers(
        dest="action", required=True
    )
    tr = sae.add_parser(
        "train", help="train an SAE on toy superposition data or an activations file"
    )
    tr.add_argument(
        "--kind", default="topk", choices=["relu", "topk", "batchtopk", "jumprelu", "gated"]
    )
    tr.add_argument("--activations", help="safetensors file with a tensor 'activations' [N, d]")
    tr.add_argument("--features", type=int, default=512)
    tr.add_argument("--dim", type=int, default=128)
    tr.add_argument("--p", type=float, default=0.01)
    tr.add_argument("--samples", type=int, default=200_000)
    tr.add_argument("--latents", type=int)
    tr.add_argument("--k", type=int, help="active latents (default: the true mean L0)")
    tr.add_argument(
        "--l1", type=float, default=0.3, help="sparsity coefficient (relu/gated/jumprelu)"
    )
    tr.add_argument("--steps", type=int, default=3000)
    tr.add_argument("--batch-size", type=int, default=1024)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--dead-after", type=int, default=50_000)
    tr.add_argument("--resample-every", type=int, default=0)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", help="directory for sae.safetensors, config.json, density.png")
    tr.set_defaults(fn=_sae_train)

    mk = sub.add_parser("maxofk", help="Max-of-K compact proofs").add_subparsers(
        dest="action", required=True
    )
    pr = mk.add_parser("prove", help="bound the accuracy of a Max-of-K model")
    pr.add_argument("--seed", type=int, default=0, help="shipped checkpoint seed")
    pr.add_argument("--checkpoint", help="a checkpoint saved by interp_tools.maxofk.save_model")
    pr.add_argument(
        "--strategy",
        nargs="+",
        default=["cubic", "subcubic"],
        choices=["cubic", "subcubic", "subcubic-rank1", "brute-force", "paths"],
    )
    pr.set_defaults(fn=_maxofk_prove)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    print(f"interp-tools {__version__} on {hardware_summary()}")
    with limit_threads(args.threads):
        return args.fn(args)
