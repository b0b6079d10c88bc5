"""Synthetic dynamic scenes, rendered by analytic ray casting and written in the D-NeRF format.

The scene holds three textured ellipsoids: one orbits the centre while spinning, one stays put
but rotates and breathes (its radii change with time), one bounces. Pixels are ray-cast against
the exact ellipsoids (2x2 supersampled), with a checker texture in object coordinates and
Lambertian shading: an independent path that shares no code with the Gaussian rasterizer.

Splits: ``train`` at ``n_train_times`` times with one random 360-degree camera each (monocular,
like D-NeRF), ``test`` at ``n_test_times`` held-out times in between with new cameras, ``val``
at training times from new cameras (held-out views).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelerator_utils import atomic_write, atomic_write_text, numpy_rng
from accelerator_utils import progress as progress_bar
from gauss4d.camera import orbit_camera
from gauss4d.data.dnerf import w2c_to_c2w_gl

# A quarter orbit, one bounce over the time span: D-NeRF-like motion per frame (see README).
DEFAULT_CYCLES = 0.25
LIGHT = np.array([0.3, 0.4, 0.85]) / np.linalg.norm([0.3, 0.4, 0.85])


@dataclass(frozen=True)
class SceneConfig:
    """Synthetic scene settings (angles in degrees, lengths in world units)."""

    n_train_times: int = 100
    n_test_times: int = 20
    n_val: int = 10
    width: int = 64
    height: int = 64
    fov_x_deg: float = 40.0
    radius: float = 3.3
    elevation_deg: tuple[float, float] = (-10.0, 60.0)
    supersample: int = 2
    cycles: float = DEFAULT_CYCLES
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_train_times < 2 or self.n_test_times < 0 or self.n_val < 0:
            raise ValueError("need n_train_times >= 2 and non-negative n_test_times, n_val")
        if self.width < 4 or self.height < 4 or self.supersample < 1:
            raise ValueError("images must be at least 4x4 and supersample >= 1")
        if not 0 < self.cycles <= 4:
            raise ValueError(
                f"cycles (motion cycles over the time span) must be in (0, 4], got {self.cycles}"
            )


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def scene_objects(t: float, cycles: float = DEFAULT_CYCLES) -> list[dict]:
    """The ellipsoids at time ``t`` in [0, 1]: centre, rotation, radii and two checker colours.

    ``cycles``: how many orbits the first object makes over the time span; every motion scales
    with it (the second object turns half as fast as the first orbits)."""
    orbit = 2 * math.pi * cycles * t
    return [
        {
            "center": np.array([0.75 * math.cos(orbit), 0.75 * math.sin(orbit), 0.15]),
            "rot": _rot_z(3 * orbit),
            "radii": np.array([0.3, 0.3, 0.3]),
            "colors": (np.array([0.9, 0.2, 0.15]), np.array([0.95, 0.85, 0.2])),
        },
        {
            "center": np.array([0.0, 0.0, -0.1]),
            "rot": _rot_z(orbit / 2) @ _rot_x(0.4),
            "radii": np.array([0.55 * (1 + 0.3 * math.sin(orbit)), 0.3, 0.25]),
            "colors": (np.array([0.15, 0.35, 0.9]), np.array([0.9, 0.9, 0.95])),
        },
        {
            "center": np.array([-0.2, 0.55, -0.45 + 0.7 * abs(math.sin(2 * orbit))]),
            "rot": _rot_x(orbit),
            "radii": np.array([0.2, 0.2, 0.2]),
            "colors": (np.array([0.2, 0.8, 0.3]), np.array([0.1, 0.25, 0.1])),
        },
    ]


def cast_rays(
    origins: np.ndarray, dirs: np.ndarray, t: float, cycles: float = DEFAULT_CYCLES
) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast the scene at time ``t``: (R, 3) rgb and (R,) hit mask for rays (R, 3), (R, 3)."""
    best = np.full(origins.shape[0], np.inf)
    rgb = np.zeros_like(origins)
    for obj in scene_objects(t, cycles):
        o = ((origins - obj["center"]) @ obj["rot"]) / obj["radii"]
        d = (dirs @ obj["rot"]) / obj["radii"]
        a, b, c = (d * d).sum(1), 2 * (o * d).sum(1), (o * o).sum(1) - 1
        disc = b * b - 4 * a * c
        s = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        hit = (disc > 0) & (s > 0) & (s < best)
        local = o + s[:, None] * d
        normal = (local / obj["radii"]) @ obj["rot"].T
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        theta = np.arccos(np.clip(local[:, 2], -1, 1))
        phi = np.arctan2(local[:, 1], local[:, 0])
        checker = (np.floor(theta * 6 / math.pi) + np.floor(phi * 6 / math.pi)) % 2
        base = np.where(checker[:, None] > 0, obj["colors"][0], obj["colors"][1])
        shade = 0.45 + 0.55 * np.clip(normal @ LIGHT, 0, None)
        rgb = np.where(hit[:, None], base * shade[:, None], rgb)
        best = np.where(hit, s, best)
    return rgb, np.isfinite(best)


def render_view(
    w2c: np.ndarray,
    fx: float,
    width: int,
    height: int,
    t: float,
    supersample: int = 2,
    cycles: float = DEFAULT_CYCLES,
) -> np.ndarray:
    """(H, W, 4) straight-alpha RGBA in [0, 1] of the scene at time ``t`` seen by ``w2c``."""
    k = supersample
    offs = (np.arange(k) + 0.5) / k
    xs = (np.arange(width)[:, None] + offs).reshape(-1)
    ys = (np.arange(height)[:, None] + offs).reshape(-1)
    px, py = np.meshgrid(xs, ys)
    cam_dirs = np.stack([(px - width / 2) / fx, (py - height / 2) / fx, np.ones_like(px)], -1)
    rot, trans = w2c[:3, :3], w2c[:3, 3]
    dirs = cam_dirs.reshape(-1, 3) @ rot
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    origin = -rot.T @ trans
    rgb, hit = cast_rays(np.broadcast_to(origin, dirs.shape), dirs, t, cycles)
    rgb = (rgb * hit[:, None]).reshape(height, k, width, k, 3).sum((1, 3))
    cover = hit.reshape(height, k, width, k).sum((1, 3)).astype(np.float64)
    rgb = rgb / np.maximum(cover, 1)[..., None]
    return np.concatenate([rgb, (cover / (k * k))[..., None]], -1)


def _split_times(cfg: SceneConfig) -> tuple[np.ndarray, np.ndarray]:
    total = cfg.n_train_times + cfg.n_test_times
    grid = np.linspace(0.0, 1.0, total)
    test_idx = ((np.arange(cfg.n_test_times) + 0.5) * total / max(cfg.n_test_times, 1)).astype(int)
    mask = np.zeros(total, dtype=bool)
    mask[np.clip(test_idx, 1, total - 2)] = True
    return grid[~mask], grid[mask]


def _write_split(
    root: Path,
    split: str,
    times: np.ndarray,
    cfg: SceneConfig,
    rng: np.random.Generator,
    progress: bool | None,
) -> None:
    from PIL import Image

    fov = math.radians(cfg.fov_x_deg)
    frames = []
    (root / split).mkdir(parents=True, exist_ok=True)
    lo, hi = (math.radians(e) for e in cfg.elevation_deg)
    for i, t in enumerate(progress_bar(times, desc=f"render {split}", enabled=progress)):
        cam = orbit_camera(
            rng.uniform(0, 2 * math.pi), rng.uniform(lo, hi), cfg.radius, fov, cfg.width, cfg.height
        )
        rgba = render_view(
            cam.world_to_cam.double().numpy(),
            cam.fx,
            cfg.width,
            cfg.height,
            float(t),
            cfg.supersample,
            cfg.cycles,
        )
        name = f"r_{i:03d}"
        with atomic_write(root / split / f"{name}.png") as f:
            Image.fromarray(np.round(rgba * 255).astype(np.uint8), "RGBA").save(f, format="PNG")
        frames.append(
            {
                "file_path": f"./{split}/{name}",
                "time": float(t),
                "transform_matrix": w2c_to_c2w_gl(cam.world_to_cam).tolist(),
            }
        )
    atomic_write_text(
        root / f"transforms_{split}.json",
        json.dumps({"camera_angle_x": fov, "frames": frames}, indent=1),
    )


def make_scene(
    root: str | Path, cfg: SceneConfig | None = None, *, progress: bool | None = None
) -> Path:
    """Write a synthetic dynamic scene in the D-NeRF format under ``root``; returns ``root``.

    Randomness (cameras, validation times) comes from ``cfg.seed`` only."""
    cfg = cfg or SceneConfig()
    root = Path(root)
    rng = numpy_rng(cfg.seed)
    train_t, test_t = _split_times(cfg)
    val_t = rng.choice(train_t, size=cfg.n_val, replace=cfg.n_val > len(train_t))
    for split, times in (("train", train_t), ("val", np.sort(val_t)), ("test", test_t)):
        _write_split(root, split, times, cfg, rng, progress)
    return root
