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
    """Squared pairwise distances of 512 points: a row loop against one matrix identity."""
    x = torch.randn(512, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def row_loop() -> torch.Tensor:
        return torch.stack([((x - xi) ** 2).sum(1) for xi in x])

    def gram() -> torch.Tensor:
        sq = (x * x).sum(1)
        return sq[:, None] + sq[None, :] - 2 * x @ x.T

    error = (row_loop() - gram()).abs().max().item()
    with limit_threads(1):
        cmp = compare(
            {"row loop": row_loop, "gram identity": gram},
            baseline="row loop",
            title="512x512 squared distances, 64 dims, float64, 1 thread",
            repeats=5,
        )
    print(cmp.to_markdown())
    print(
        f"\nheadline: the Gram identity is {cmp.speedup('gram identity'):.1f}x faster than the "
        f"row loop (max abs difference {error:.1e})"
    )


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
