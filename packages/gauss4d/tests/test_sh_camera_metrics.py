"""Spherical harmonics, cameras and image metrics against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from gauss4d.camera import Camera, look_at, orbit_camera
from gauss4d.metrics import psnr, ssim, ssim_map
from gauss4d.raster.project import to_camera
from gauss4d.sh import num_coeffs, rgb_to_sh0, sh_basis, sh_to_color


def _fibonacci_sphere(n: int) -> torch.Tensor:
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    phi = math.pi * (1 + 5**0.5) * i
    r = (1 - z * z).sqrt()
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1)


def test_sh_basis_is_orthonormal_on_the_sphere():
    dirs = _fibonacci_sphere(40_000)
    y = sh_basis(dirs, 3)
    gram = 4 * math.pi * (y.T @ y) / dirs.shape[0]
    torch.testing.assert_close(gram, torch.eye(16, dtype=torch.float64), atol=2e-3, rtol=0)


def test_sh_dc_roundtrip_and_clamp():
    rgb = torch.tensor([[0.1, 0.5, 0.9]])
    sh = torch.zeros(1, num_coeffs(2), 3)
    sh[:, 0] = rgb_to_sh0(rgb)
    torch.testing.assert_close(sh_to_color(sh, torch.tensor([[0.0, 0.0, 1.0]])), rgb)
    sh[:, 0] = -10
    assert sh_to_color(sh, torch.tensor([[1.0, 0.0, 0.0]])).min() == 0
    with pytest.raises(ValueError, match="SH degree"):
        num_coeffs(4)


def test_look_at_puts_target_on_the_optical_axis():
    cam = orbit_camera(1.0, 0.5, 4.0, math.radians(60), 32, 24)
    t = to_camera(torch.zeros(1, 3), cam)
    torch.testing.assert_close(t[0], torch.tensor([0.0, 0.0, 4.0]), atol=1e-5, rtol=0)
    assert cam.center.norm().item() == pytest.approx(4.0, rel=1e-5)
    up = to_camera(torch.tensor([[0.0, 0.0, 0.5]]), cam)  # world +z appears upward (-y)
    assert up[0, 1] < 0


def test_camera_validation():
    with pytest.raises(ValueError, match="4, 4"):
        Camera(torch.eye(3), 1.0, 1.0, 0.0, 0.0, 4, 4)
    with pytest.raises(ValueError, match="focal"):
        Camera(torch.eye(4), -1.0, 1.0, 0.0, 0.0, 4, 4)
    with pytest.raises(ValueError, match="eye != target"):
        look_at(torch.zeros(3), torch.zeros(3))


def test_psnr_closed_form():
    a = torch.zeros(8, 8, 3)
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-6)
    assert psnr(a, a) == math.inf
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, torch.zeros(8, 8, 1))


def test_ssim_matches_direct_window_sums():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(16, 16, 1, generator=g).double(), torch.rand(16, 16, 1, generator=g).double()
    assert ssim(a, a) == pytest.approx(1.0)
    x = torch.arange(11, dtype=torch.float64) - 5
    w1 = torch.exp(-x * x / (2 * 1.5**2))
    w = (w1[:, None] * w1[None, :]) / w1.sum() ** 2
    pa, pb = a[3:14, 2:13, 0], b[3:14, 2:13, 0]
    ma, mb = (w * pa).sum(), (w * pb).sum()
    va, vb = (w * pa * pa).sum() - ma**2, (w * pb * pb).sum() - mb**2
    cov = (w * pa * pb).sum() - ma * mb
    c1, c2 = 0.01**2, 0.03**2
    direct = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    assert ssim_map(a, b)[0, 3, 2].item() == pytest.approx(direct.item(), rel=1e-10)
