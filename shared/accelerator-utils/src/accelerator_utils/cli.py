"""``accelerator-utils info`` (the environment) and ``accelerator-utils demo`` (the harness)."""

from __future__ import annotations

import argparse
import json

import torch

from accelerator_utils import __version__
from accelerator_utils.benchmark import compare
from accelerator_utils.environment import environment
from accelerator_utils.threads import limit_threads


def _demo() -> None:
    """Compare a Python loop of matrix-vector products with one batched product, side by side."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(64, 128, 128, generator=gen)
    x = torch.randn(64, 128, 1, generator=gen)
    with limit_threads(1):
        cmp = compare(
            {
                "loop": lambda: torch.stack([m @ v for m, v in zip(a, x)]),
                "bmm": lambda: torch.bmm(a, x),
            },
            baseline="loop",
            title="64 matrix-vector products (128x128), 1 thread",
            repeats=5,
        )
    print(cmp.to_markdown())
    print(f"\nheadline: batched product is {cmp.speedup('bmm'):.1f}x faster than the loop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="accelerator-utils", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print the device, library versions and thread settings as JSON")
    sub.add_parser("demo", help="run the side-by-side benchmark harness on a small example")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(json.dumps(environment(), indent=2, default=str))
    else:
        _demo()
    return 0
