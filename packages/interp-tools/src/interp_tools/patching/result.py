"""The result grid of a patching experiment and its heatmap."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from accelerator_utils import atomic_write

MODES = {"position": 1, "head": 2}


def mode_dim(mode: str) -> int:
    """The activation dimension that ``mode`` indexes (position: 1, head: 2)."""
    if mode not in MODES:
        raise ValueError(f"unknown patching mode {mode!r}; use one of {sorted(MODES)}")
    return MODES[mode]


@dataclass(frozen=True)
class PatchingResult:
    """``grid[s, i]``: the metric with site ``sites[s]`` index ``i`` patched clean → corrupted.

    ``clean_metric``/``corrupted_metric``: the metric on unpatched clean/corrupted runs.
    """

    grid: torch.Tensor
    sites: tuple[str, ...]
    mode: str
    clean_metric: float
    corrupted_metric: float

    def normalized(self) -> torch.Tensor:
        """(grid − corrupted) / (clean − corrupted): 1 = patch restores the clean metric."""
        gap = self.clean_metric - self.corrupted_metric
        if gap == 0:
            raise ValueError("clean and corrupted metrics are equal; nothing to normalise by")
        return (self.grid - self.corrupted_metric) / gap

    def heatmap(self, path: str | Path, title: str = "activation patching") -> Path:
        """Save the normalised grid as a PNG heatmap (sites × index); returns the path."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        data = self.normalized().cpu().numpy()
        fig, ax = plt.subplots(figsize=(1 + 0.4 * data.shape[1], 1 + 0.35 * data.shape[0]))
        lim = max(abs(data).max(), 1e-12)
        im = ax.imshow(data, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_yticks(range(len(self.sites)), self.sites, fontsize=7)
        ax.set_xlabel(self.mode)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, label="fraction of clean metric restored")
        fig.tight_layout()
        path = Path(path)
        with atomic_write(path) as handle:
            fig.savefig(handle, format="png", dpi=100)
        plt.close(fig)
        return path
