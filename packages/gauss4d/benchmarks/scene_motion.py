"""How fast does the synthetic scene move per training frame? (1 thread, about 20 s)

    python benchmarks/scene_motion.py 1 0.5 0.25 0.2      # SceneConfig.cycles values

For each ``cycles`` value and size (64^2, 128^2), 4 random orbit cameras and times: PSNR of the
ground truth at t against the same view at t + half a training interval and one interval
(100 training + 20 held-out times: interval 1/119), and against the average of 12 frames over
the time span (a proxy for the best static model of that view). If half an interval already
costs a lot, no method can interpolate the held-out times from monocular frames.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from accelerator_utils import limit_threads
from gauss4d.camera import orbit_camera
from gauss4d.data.synthetic import render_view


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(-10 * np.log10(((a - b) ** 2).mean()))


def _over_white(rgba: np.ndarray) -> np.ndarray:
    return rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])


def measure(cycles: float, size: int, rng: np.random.Generator, dt: float = 1 / 119) -> tuple:
    """(half-interval, one-interval, time-average) PSNR in dB, means over 4 views."""
    rows = []
    for _ in range(4):
        cam = orbit_camera(
            rng.uniform(0, 2 * math.pi), rng.uniform(-0.17, 1.0), 3.3, math.radians(40), size, size
        )
        w2c = cam.world_to_cam.double().numpy()

        def frame(t: float, w2c=w2c, cam=cam) -> np.ndarray:
            return _over_white(render_view(w2c, cam.fx, size, size, t, 2, cycles))

        t = rng.uniform(0.05, 0.9)
        ref = frame(t)
        avg = np.mean([frame(s) for s in np.linspace(0, 1, 12)], 0)
        rows.append((_psnr(ref, frame(t + dt / 2)), _psnr(ref, frame(t + dt)), _psnr(ref, avg)))
    return tuple(np.mean(rows, 0))


def main(argv: list[str] | None = None) -> int:
    values = [float(c) for c in (argv if argv is not None else sys.argv[1:])] or [1.0, 0.25]
    rng = np.random.default_rng(0)
    with limit_threads(1):
        for size in (64, 128):
            for cycles in values:
                half, one, static = measure(cycles, size, rng)
                print(
                    f"{size}^2 cycles {cycles}: half interval {half:.1f} dB, one interval "
                    f"{one:.1f} dB, time-averaged frame {static:.1f} dB",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
