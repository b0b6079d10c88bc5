"""Small random scenes shared by the tests."""

from __future__ import annotations

import math

import pytest
import torch

from gauss4d.camera import orbit_camera


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
