"""Train the shipped Max-of-K checkpoints (paper recipe, seeds 0–2) and print their accuracy.

python examples/train_maxofk_checkpoints.py [--seeds 0 1 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import time

from accelerator_utils import limit_threads
from interp_tools.maxofk import brute_force_accuracy, save_model, train_maxofk
from interp_tools.maxofk.train import CHECKPOINTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", default=str(CHECKPOINTS))
    parser.add_argument("--no-brute-force", action="store_true")
    args = parser.parse_args()
    with limit_threads(1):
        for seed in args.seeds:
            t0 = time.perf_counter()
            result = train_maxofk(steps=args.steps, seed=seed)
            path = save_model(result.model, f"{args.out}/maxofk_seed{seed}.safetensors")
            line = (
                f"seed {seed}: final loss {result.losses[-1]:.4g}, {time.perf_counter() - t0:.1f} s"
            )
            if not args.no_brute_force:
                line += f", accuracy {brute_force_accuracy(result.model).accuracy:.5f}"
            print(line, "->", path, flush=True)


if __name__ == "__main__":
    main()
