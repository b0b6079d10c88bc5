"""Tucker-2 on a small CNN trained on scikit-learn's digits (8×8, bundled, offline).

    python benchmarks/tucker_digits.py          # about a minute on one thread

Trains the CNN (five seeds: split, init and batches), then removes 50 % (the target), 70 % and
80 % of all Conv2d weights with Tucker-2, data-free (HOSVD + HOOI) and data-aware
(reduced-rank-regression U_out, core and bias on the compressed path, 512 training images),
side by side on the same model; reports held-out accuracy and relative logit error.
Results: results/tucker_digits/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from accelerator_utils import (
    BenchmarkReport,
    atomic_write_json,
    hardware_summary,
    limit_threads,
    make_generator,
)
from lowrank_compress.tucker_compress import compress_convs

RESULTS = Path(__file__).parent / "results" / "tucker_digits"


class DigitsCNN(nn.Module):
    """conv 1→w → conv w→2w → pool → conv 2w→2w → pool → linear 8w→10 (3×3 convs, ReLU)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.head = nn.Linear(2 * width * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return self.head(x.flatten(1))


def digits_split(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): 80/20 random split, pixels scaled to [0, 1]."""
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=make_generator(seed))
    cut = int(0.8 * len(x))
    return x[perm[:cut]], y[perm[:cut]], x[perm[cut:]], y[perm[cut:]]


def train(x: torch.Tensor, y: torch.Tensor, seed: int, width: int, epochs: int = 40
          ) -> DigitsCNN:
    gen = make_generator(seed)
    with torch.random.fork_rng():  # default init draws from the global RNG: keep it untouched
        torch.manual_seed(seed)
        model = DigitsCNN(width)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean()) * 100


@torch.no_grad()
def logit_error(model: nn.Module, reference: nn.Module, x: torch.Tensor) -> float:
    """‖f(x) − f_ref(x)‖² / ‖f_ref(x)‖² over the test images."""
    ref = reference(x)
    return float((model(x) - ref).square().sum() / ref.square().sum())


def run_seed(seed: int, ratios: list[float], n_calib: int, width: int) -> list[dict]:
    x, y, xt, yt = digits_split(seed)
    model = train(x, y, seed, width)
    calib = list(x[:n_calib].split(64))
    base = accuracy(model, xt, yt)
    rows = []
    for ratio in ratios:
        free = compress_convs(model, ratio)
        aware = compress_convs(model, ratio, calib, refit=True)
        row = {"seed": seed, "width": width, "params_removed": ratio, "original": base,
               "data_free": accuracy(free.model, xt, yt),
               "data_aware": accuracy(aware.model, xt, yt),
               "logit_error_free": logit_error(free.model, model, xt),
               "logit_error_aware": logit_error(aware.model, model, xt),
               "conv_reduction": aware.conv_reduction, "layers": aware.to_dict()["layers"],
               "test_size": len(xt)}
        row["drop_free"], row["drop_aware"] = base - row["data_free"], base - row["data_aware"]
        print({k: v for k, v in row.items() if k != "layers"}, flush=True)
        rows.append(row)
    return rows


KEYS = ("original", "data_free", "data_aware", "drop_free", "drop_aware", "logit_error_free",
        "logit_error_aware", "conv_reduction")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.7, 0.8])
    parser.add_argument("--calib", type=int, default=512, help="training images for the refit")
    parser.add_argument("--width", type=int, default=32, help="channels of the first conv")
    args = parser.parse_args(argv)
    with limit_threads(1):
        rows = [r for s in range(args.seeds)
                for r in run_seed(s, args.ratios, args.calib, args.width)]
    means = {ratio: {k: sum(r[k] for r in rows if r["params_removed"] == ratio)
                     / args.seeds for k in KEYS} for ratio in args.ratios}
    report = BenchmarkReport("lowrank-compress")
    for ratio, mean in means.items():
        tag = f"Tucker-2 digits, width {args.width}, {ratio:.0%}"
        report.metric(f"{tag}: conv weights removed", mean["conv_reduction"] * 100, "%")
        for k in KEYS[:3] + KEYS[5:7]:
            report.metric(f"{tag}: mean {k}", mean[k], "")
        target = ratio == 0.5
        report.metric(f"{tag}: mean accuracy drop, data-aware", mean["drop_aware"], "points",
                      target="<= 1.5" if target else None,
                      passed=mean["drop_aware"] <= 1.5 if target else None)
        report.metric(f"{tag}: mean accuracy drop, data-free", mean["drop_free"], "points")
        report.metric(f"{tag}: drop data-aware / data-free", mean["drop_aware"]
                      / max(mean["drop_free"], 1e-9), "", target="<= 0.5" if target else None,
                      passed=mean["drop_aware"] <= 0.5 * mean["drop_free"] if target else None)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"tucker_digits_w{args.width}"
    atomic_write_json(RESULTS / f"{stem}_rows.json", {"rows": rows, "means": means,
                                                      "hardware": hardware_summary()})
    report.write(RESULTS, name=stem)
    print(report.to_markdown())


if __name__ == "__main__":
    main()
