"""Online function reconstruction with HiPPO LegS / LegT / FouT: feed a signal through the
discretised recurrence, rebuild the remembered history from the final state alone, and plot
the reconstructions and the error against the state size N (PNG).

    python examples/hippo_reconstruction.py [--out hippo_reconstruction.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ssm_core.hippo import online_reconstruction


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "hippo_reconstruction.png")
    args = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = torch.linspace(0, 1, 1000, dtype=torch.float64)
    signal = torch.sin(6 * t) + 0.5 * torch.cos(17 * t**2) + 0.3 * (t > 0.6).double()
    sizes = {"legs": [4, 8, 16, 32, 64], "legt": [4, 8, 16, 32, 64], "fout": [5, 9, 17, 33, 65]}
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.5))
    for ax, kind in zip(axes, sizes):
        rec = online_reconstruction(signal, kind, sizes[kind][3], window=500)
        ax.plot(signal.numpy(), color="0.6", label="signal")
        ax.plot(rec.points, rec.reconstruction, label=f"{kind}, N={sizes[kind][3]}")
        ax.set_title(f"{kind}: RMSE {rec.rmse:.3f}")
        ax.legend(fontsize=7)
        errs = [online_reconstruction(signal, kind, n, window=500).rmse for n in sizes[kind]]
        axes[3].loglog(sizes[kind], errs, marker="o", label=kind)
        print(kind, {n: round(e, 4) for n, e in zip(sizes[kind], errs)})
    axes[3].set_xlabel("N")
    axes[3].set_ylabel("reconstruction RMSE")
    axes[3].legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
