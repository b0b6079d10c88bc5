"""Small random scenes shared by the tests."""

from __future__ import annotations

import math

import pytest
import torch

from gauss4d.camera import orbit_camera
from gauss4d.data import SceneConfig, make_scene
from gauss4d.deformation import DeformationConfig
from gauss4d.hexplane import HexPlaneConfig
from gauss4d.train import TrainConfig


def random_scene(n: int, seed: int, width: int = 24, height: int = 20, dtype=torch.float32):
    """(means, quats, scales, opacities, colors, camera, background) of a small random scene."""
    g = torch.Generator().manual_seed(seed)
    cam = orbit_camera(0.3 + seed, 0.4, 4.0, math.radians(50), width, height)
    means = (torch.randn(n, 3, generator=g) * 0.6).to(dtype)
    quats = torch.randn(n, 4, generator=g).to(dtype)
    scales = (torch.rand(n, 3, generator=g) * 0.2 + 0.05).to(dtype)
    opac = (torch.rand(n, generator=g) * 0.9 + 0.05).to(dtype)
    colors = torch.rand(n, 3, generator=g).to(dtype)
    bg = torch.tensor([0.2, 0.3, 0.4], dtype=dtype)
    return means, quats, scales, opac, colors, cam, bg


@pytest.fixture(scope="session")
def scene():
    """The ``random_scene`` factory (stateless, safe to share across hypothesis inputs)."""
    return random_scene


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory):
    """Root of a 16x16 synthetic scene: 6 training and 2 held-out times."""
    cfg = SceneConfig(n_train_times=6, n_test_times=2, n_val=1, width=16, height=16, supersample=1)
    return make_scene(tmp_path_factory.mktemp("tiny"), cfg)


def tiny_train_config(total_coarse: int = 6, fine: int = 6, **kw) -> TrainConfig:
    """A few-step TrainConfig for ``tiny_scene`` (a 4^4 HexPlane, SH degree 1); ``kw``
    overrides any field."""
    base = dict(
        coarse_iters=total_coarse,
        fine_iters=fine,
        n_init=60,
        sh_degree=1,
        sh_every=4,
        densify_from=100,
        checkpoint_every=4,
        log_every=2,
        deformation=DeformationConfig(HexPlaneConfig(4, (4, 4, 4, 4), (1,)), 16),
    )
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="session")
def tiny_cfg():
    """The ``tiny_train_config`` factory."""
    return tiny_train_config
