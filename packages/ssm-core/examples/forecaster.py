"""Time-series forecaster in the spirit of KARMA: moving-average trend/seasonal decomposition,
then Mamba blocks over the look-back window; compared with a DLinear-style linear baseline on
a synthetic multivariate series with known trend, two seasonalities and coupled AR noise.

    python examples/forecaster.py            # full (a few minutes alone)
    python examples/forecaster.py --quick    # pipeline check
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn

from accelerator_utils import limit_threads
from accelerator_utils import progress as progress_bar
from ssm_core.mamba import Mamba, MambaConfig

LOOKBACK, HORIZON, CHANNELS = 96, 24, 4


def synthetic_series(length: int, gen: torch.Generator) -> torch.Tensor:
    """``(length, CHANNELS)``: slow trend + daily/weekly seasons + coupled AR(1) noise."""
    t = torch.arange(length, dtype=torch.float32)[:, None]
    phase = torch.rand(1, CHANNELS, generator=gen) * 2 * math.pi
    trend = 0.002 * t * torch.linspace(-1, 1, CHANNELS)
    season = torch.sin(2 * math.pi * t / 24 + phase) + 0.5 * torch.sin(
        2 * math.pi * t / 168 + 2 * phase
    )
    mix = torch.eye(CHANNELS) * 0.7 + 0.1
    noise = torch.zeros(length, CHANNELS)
    eps = torch.randn(length, CHANNELS, generator=gen) * 0.2
    for i in range(1, length):
        noise[i] = noise[i - 1] @ mix.T * 0.9 / mix.sum(1) + eps[i]
    return trend + season + noise


def decompose(x: torch.Tensor, kernel: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    """Moving-average trend (edge-padded) and the seasonal remainder of ``x`` ``(B, L, C)``."""
    pad = (kernel - 1) // 2
    xp = torch.cat([x[:, :1].expand(-1, pad, -1), x, x[:, -1:].expand(-1, pad, -1)], 1)
    trend = F.avg_pool1d(xp.transpose(1, 2), kernel, stride=1).transpose(1, 2)
    return trend, x - trend


class DLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.trend, self.season = nn.Linear(LOOKBACK, HORIZON), nn.Linear(LOOKBACK, HORIZON)

    def forward(self, x):
        t, s = decompose(x)
        return (self.trend(t.transpose(1, 2)) + self.season(s.transpose(1, 2))).transpose(1, 2)


class MambaForecaster(nn.Module):
    """Linear trend path plus Mamba blocks over the seasonal part (per-window normalised)."""

    def __init__(self, d_model: int = 32, n_layers: int = 2):
        super().__init__()
        self.inp = nn.Linear(CHANNELS, d_model)
        self.blocks = nn.ModuleList(
            Mamba(MambaConfig(d_model=d_model, d_state=16)) for _ in range(n_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.head = nn.Linear(d_model * 8, HORIZON * CHANNELS)
        self.trend = nn.Linear(LOOKBACK, HORIZON)

    def forward(self, x):
        t, s = decompose(x)
        h = self.inp(s)
        for norm, block in zip(self.norms, self.blocks):
            h = h + block(norm(h))
        season = self.head(h[:, -8:].flatten(1)).view(-1, HORIZON, CHANNELS)
        return season + self.trend(t.transpose(1, 2)).transpose(1, 2)


def windows(series: torch.Tensor, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    idx = starts[:, None] + torch.arange(LOOKBACK + HORIZON)
    w = series[idx]
    return w[:, :LOOKBACK], w[:, LOOKBACK:]


def fit(
    model: nn.Module,
    series: torch.Tensor,
    steps: int,
    gen: torch.Generator,
    name: str,
    *,
    progress: bool | None = None,
) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    train_end = int(0.7 * len(series)) - LOOKBACK - HORIZON
    bar = progress_bar(range(steps), desc=name, enabled=progress)
    for _ in bar:
        x, y = windows(series, torch.randint(0, train_end, (32,), generator=gen))
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set_postfix(mse=f"{loss.item():.3f}")


@torch.no_grad()
def test_mse(model: nn.Module, series: torch.Tensor) -> float:
    starts = torch.arange(int(0.7 * len(series)), len(series) - LOOKBACK - HORIZON, 8)
    x, y = windows(series, starts)
    return float(F.mse_loss(model(x), y))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    args = p.parse_args()
    steps = 30 if args.quick else 1500
    gen = torch.Generator().manual_seed(args.seed)
    series = synthetic_series(4000, gen)
    torch.manual_seed(args.seed)
    with limit_threads(1):
        results = {}
        for name, model in (("DLinear", DLinear()), ("Mamba forecaster", MambaForecaster())):
            fit(model, series, steps, gen, name, progress=args.progress)
            results[name] = test_mse(model, series)
    for name, mse in results.items():
        print(
            f"{name}: test MSE {mse:.4f} ({steps} steps, look-back {LOOKBACK}, horizon {HORIZON})"
        )


if __name__ == "__main__":
    main()
