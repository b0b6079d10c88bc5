"""Command line of ssm-core: ``bench``, ``train-task`` and ``demo``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from accelerator_utils import hardware_summary, limit_threads, resolve_device
from ssm_core import __version__
from ssm_core.bench import FULL, QUICK, run_benchmarks
from ssm_core.tasks import TASKS, TaskConfig, train_task


def _bench(args: argparse.Namespace) -> int:
    try:
        device = resolve_device(args.device)
    except RuntimeError as err:  # e.g. CUDA asked for but absent: a usage error here
        raise ValueError(str(err)) from err
    which = (
        tuple(w.strip() for w in args.only.split(","))
        if args.only
        else ("ssd", "scan", "s4d", "decode")
    )
    report = run_benchmarks(
        FULL if args.full else QUICK,
        threads=args.threads,
        seed=args.seed,
        which=which,
        progress=args.progress,
        out=args.out,  # written inside the thread pin, so the header names it
        retain_memory=args.retain_freed_memory,
        device=device,
    )
    print(report.to_markdown())
    print(f"wrote {args.out / 'ssm-core'}.json")
    return 0


def _train(args: argparse.Namespace) -> int:
    cfg = TaskConfig(
        task=args.task,
        model=args.model,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        d_model=args.d_model,
        n_layers=args.layers,
        threads=args.threads,
        eval_every=args.eval_every,
    )
    print(train_task(cfg, seed=args.seed, progress=args.progress).summary())
    return 0


def _timed(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _demo(args: argparse.Namespace) -> int:
    from ssm_core.lm import MambaLM, MambaLMConfig
    from ssm_core.selective_scan import scan_chunked, scan_parallel, scan_ref
    from ssm_core.ssd import ssd

    g = torch.Generator().manual_seed(args.seed)
    with limit_threads(args.threads), torch.no_grad():
        b, L, d, n = 1, 1024, 128, 16
        x, delta = torch.randn(b, L, d, generator=g), torch.rand(b, L, d, generator=g) * 0.1
        A, B, C = (
            -torch.rand(d, n, generator=g) - 0.5,
            torch.randn(b, L, n, generator=g),
            torch.randn(b, L, n, generator=g),
        )
        y64 = scan_ref(*(t.double() for t in (x, delta, A, B, C)))[0]
        errs = {
            f.__name__: float(
                (f(x, delta, A, B, C)[0].double() - y64).abs().max() / y64.abs().max()
            )
            for f in (scan_chunked, scan_parallel)
        }
        t_ref, t_chunk = (
            _timed(lambda: scan_ref(x, delta, A, B, C)),
            _timed(lambda: scan_chunked(x, delta, A, B, C)),
        )
        print(
            f"S6 scan (B={b}, L={L}, D={d}, N={n}, fp32): reference loop {t_ref * 1e3:.0f} ms, "
            f"chunked {t_chunk * 1e3:.0f} ms ({t_ref / t_chunk:.1f}x); rel. errors vs fp64 {errs}"
        )
        xs, dt = torch.randn(1, L, 8, 64, generator=g), torch.rand(1, L, 8, generator=g) * 0.1
        Ah, Bs, Cs = (
            -(torch.rand(8, generator=g) + 0.5),
            torch.randn(1, L, 1, 64, generator=g),
            torch.randn(1, L, 1, 64, generator=g),
        )
        t_rec = _timed(lambda: ssd(xs, dt, Ah, Bs, Cs, form="recurrent"), 1)
        t_chk = _timed(lambda: ssd(xs, dt, Ah, Bs, Cs, chunk_size=32))
        print(
            f"SSD (L={L}, H=8, P=64, N=64): recurrence {t_rec * 1e3:.0f} ms, chunked {t_chk * 1e3:.0f} ms "
            f"({t_rec / t_chk:.1f}x)"
        )
        with torch.random.fork_rng(devices=[]):  # nn.Linear initialisers use the global RNG
            torch.manual_seed(args.seed)
            lm = MambaLM(MambaLMConfig(vocab_size=64, d_model=64, n_layers=2)).double()
        prompt = torch.randint(0, 64, (1, 32), generator=g)
        out = lm.generate(prompt, 32)
        full = lm(torch.cat([prompt, out.tokens], 1)[:, :-1])[:, 31:]
        dec_err = float((full - out.logits).abs().max())
        print(
            f"Mamba LM: 32 tokens decoded step by step; max |logit - forward logit| = {dec_err:.1e}"
        )
    print(
        f"headline: S6 chunked scan {t_ref / t_chunk:.1f}x faster than the reference loop, SSD chunked "
        f"{t_rec / t_chk:.1f}x faster than recurrence (L={L}, 1 thread), all modes agree "
        f"(scan fp32 rel. err {max(errs.values()):.1e}, step decoding {dec_err:.0e})"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssm-core", description=__doc__)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="the scan/SSD/S4D/decoding benchmarks, side by side")
    size = bench.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="short run (default)")
    size.add_argument("--full", action="store_true", help="full sizes and repeats")
    bench.add_argument("--only", default="", help="comma-separated subset of ssd,scan,s4d,decode")
    bench.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    bench.add_argument(
        "--retain-freed-memory",
        action="store_true",
        help="glibc keeps freed memory (no page faults from reallocation); recorded in the report",
    )
    bench.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto [cpu]")
    train = sub.add_parser("train-task", help="train on a synthetic task and report accuracy/loss")
    train.add_argument("task", choices=sorted(TASKS))
    train.add_argument("--model", choices=["mamba", "s4d"], default="mamba")
    train.add_argument("--steps", type=int, default=400)
    train.add_argument("--batch", type=int, default=32)
    train.add_argument("--lr", type=float, default=3e-3)
    train.add_argument("--d-model", type=int, default=64)
    train.add_argument("--layers", type=int, default=2)
    train.add_argument("--eval-every", type=int, default=0, help="evaluation curve every N steps")
    demo = sub.add_parser(
        "demo", help="mode agreement and speed on generated data (under a minute)"
    )
    for s in (bench, train, demo):
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (default 1)")
    for s in (bench, train):
        s.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="progress bars (default: only on a terminal outside CI)",
        )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    print(f"ssm-core {__version__} on {hardware_summary()}")
    handler = {"bench": _bench, "train-task": _train, "demo": _demo}[args.command]
    try:
        return handler(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
