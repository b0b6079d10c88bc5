"""The fast rasterizer against the float64 brute-force reference, closed forms and gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gauss4d.camera import Camera, look_at
from gauss4d.raster import RasterConfig, rasterize
from gauss4d.raster.composite import composite, composite_vjp, pair_weights
from gauss4d.raster.function import composite_recompute
from gauss4d.raster.pairs import enumerate_pairs, pair_alpha
from gauss4d.raster.project import ewa_jacobian, project, to_camera
from gauss4d.raster.reference import rasterize_all_pairs, rasterize_reference
from gauss4d.raster.tiles import rasterize_tiles


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30))
def test_forward_matches_reference(scene, seed, n):
    means, quats, scales, opac, colors, cam, bg = scene(n, seed)
    out = rasterize(means, quats, scales, opac, colors, cam, bg)
    ref = rasterize_reference(means, quats, scales, opac, colors, cam, bg)
    assert (out.image.reshape(-1, 3).double() - ref.color).abs().max() <= 1e-5
    assert (out.alpha.flatten().double() - ref.alpha).abs().max() <= 1e-5
    assert (out.depth.flatten().double() - ref.depth).abs().max() <= 1e-5 * 5.0  # depth ~ 4


def test_all_pairs_baseline_matches_reference(scene):
    means, quats, scales, opac, colors, cam, bg = scene(40, 3)
    out = rasterize_all_pairs(means, quats, scales, opac, colors, cam, bg, pixels_per_chunk=100)
    ref = rasterize_reference(means, quats, scales, opac, colors, cam, bg)
    assert (out.color.double() - ref.color).abs().max() <= 1e-5


def _weighted_loss(image, alpha, depth, w):
    return (image * w).sum() + (alpha * w[..., 0]).sum() + (depth * w[..., 1]).sum()


@pytest.mark.parametrize("seed", [0, 1])
def test_gradients_match_reference(scene, seed):
    scene = scene(30, seed)
    cam, bg = scene[5], scene[6]
    params = [p.clone().requires_grad_() for p in scene[:5]]
    out = rasterize(*params, cam, bg)
    w = torch.randn(cam.height, cam.width, 3, generator=torch.Generator().manual_seed(seed))
    _weighted_loss(out.image, out.alpha, out.depth, w).backward()
    ref_params = [p.detach().double().requires_grad_() for p in scene[:5]]
    ref = rasterize_reference(*ref_params, cam, bg)
    shape = (cam.height, cam.width)
    _weighted_loss(
        ref.color.reshape(*shape, 3), ref.alpha.reshape(shape), ref.depth.reshape(shape), w.double()
    ).backward()
    for name, a, b in zip(("means", "quats", "scales", "opac", "colors"), params, ref_params):
        torch.testing.assert_close(
            a.grad.double(), b.grad, rtol=1e-3, atol=1e-3 * b.grad.abs().max().item(), msg=name
        )


def test_gradcheck_float64_few_gaussians(scene):
    means, quats, scales, opac, colors, cam, bg = scene(4, 7, 10, 8, torch.float64)
    cam = cam.to(dtype=torch.float64)
    scales = scales * 2.5  # a few overlapping blobs

    def f(m, q, s, o, c):
        out = rasterize(m, q, s, o, c, cam, bg)
        return out.image, out.alpha, out.depth

    inputs = [x.clone().requires_grad_() for x in (means, quats, scales, opac, colors)]
    assert rasterize(*inputs, cam, bg).n_pairs > 20
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def test_gradcheck_composite_function(scene):
    means, quats, scales, opac, colors, cam, bg = scene(5, 11, 9, 7, torch.float64)
    cam, cfg = cam.to(dtype=torch.float64), RasterConfig()
    proj = project(means, quats, scales * 2.5, opac, cam, cfg)
    pairs = enumerate_pairs(proj, cam.width, cam.height, cfg)
    inputs = [
        x.detach().clone().requires_grad_()
        for x in (proj.means2d, proj.conics, proj.opacities, colors, proj.depths, bg)
    ]

    def f(*xs):
        return composite_recompute(*xs, pairs.pixel, pairs.gauss, cam.width, cam.height, cfg)

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def test_composite_vjp_matches_autograd(scene):
    """The closed-form backward equals autograd through ``composite`` on a dense, saturated scene:
    alphas clamped at alpha_max and pixels stopped by the transmittance threshold."""
    means, quats, scales, opac, colors, cam, bg = scene(60, 5, 48, 40, torch.float64)
    cam, cfg = cam.to(dtype=torch.float64), RasterConfig()
    opac = torch.where(opac > 0.3, torch.ones_like(opac), opac)  # many alphas at alpha_max
    proj = project(means * 0.5, quats, scales * 2.0, opac, cam, cfg)
    pairs = enumerate_pairs(proj, cam.width, cam.height, cfg)
    floats = [
        x.detach().clone().requires_grad_()
        for x in (proj.means2d, proj.conics, proj.opacities, colors, proj.depths, bg)
    ]
    alpha = pair_alpha(*floats[:3], pairs.pixel, pairs.gauss, cam.width, cfg)
    _, _, keep = pair_weights(alpha.detach(), pairs.pixel, cfg)
    assert (alpha == cfg.alpha_max).sum() > 10 and (~keep).sum() > 10  # both clamps exercised
    g = torch.Generator().manual_seed(0)
    p = cam.width * cam.height
    outs = [torch.randn(p, *c, generator=g, dtype=torch.float64) for c in ((3,), (), ())]
    out = composite(*floats, pairs.pixel, pairs.gauss, cam.width, cam.height, cfg)
    surrogate = sum((a * b).sum() for a, b in zip((out.color, out.alpha, out.depth), outs))
    expected = torch.autograd.grad(surrogate, floats)
    got = composite_vjp(*floats, pairs.pixel, pairs.gauss, cam.width, cfg, *outs)
    names = ("means2d", "conics", "opacities", "colors", "depths", "background")
    for name, a, b in zip(names, got, expected):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10, msg=name)


def _front_camera(width=9, height=9):
    w2c = look_at(torch.tensor([0.0, -5.0, 0.0]), torch.zeros(3))
    return Camera(w2c, 20.0, 20.0, width / 2, height / 2, width, height)


def test_pixel_centre_convention():
    """A Gaussian on the optical axis with cx = W/2 lands between pixels 4 and 5 when W = 10,
    and exactly on the centre of pixel 4 when W = 9 (centre at 4.5)."""
    cam = _front_camera(9, 9)
    args = (
        torch.zeros(1, 3),
        torch.tensor([[1.0, 0, 0, 0]]),
        torch.full((1, 3), 0.05),
        torch.tensor([0.9]),
        torch.ones(1, 3),
    )
    out = rasterize(*args, cam)
    assert torch.argmax(out.alpha).item() == 4 * 9 + 4
    assert out.alpha[4, 4] == pytest.approx(0.9, abs=1e-6)
    torch.testing.assert_close(out.alpha, out.alpha.flip(0).flip(1))
    even = rasterize(*args, _front_camera(10, 10)).alpha
    assert even[4, 4] == pytest.approx(even[5, 5].item()) and even[4, 4] < 0.9


def test_transmittance_threshold_closed_form():
    """Four Gaussians of opacity 0.95 on the axis: T goes 1, 0.05, 0.0025, 1.25e-4 and the fourth
    would bring it to 6.25e-6 < 1e-4, so it is skipped and the background keeps 1.25e-4."""
    cam = _front_camera()
    means = torch.tensor([[0.0, y, 0.0] for y in (0.0, 1.0, 2.0, 3.0)])
    colors = torch.cat([torch.eye(3), torch.ones(1, 3)])
    bg = torch.tensor([0.5, 0.5, 0.5])
    out = rasterize(
        means,
        torch.tensor([[1.0, 0, 0, 0]]).repeat(4, 1),
        torch.full((4, 3), 0.3),
        torch.full((4,), 0.95),
        colors,
        cam,
        bg,
    )
    expected = torch.tensor([0.95, 0.0475, 0.002375]) + 1.25e-4 * bg
    torch.testing.assert_close(out.image[4, 4], expected, atol=1e-6, rtol=0)
    assert out.alpha[4, 4].item() == pytest.approx(1 - 1.25e-4, abs=1e-6)
    assert out.depth[4, 4].item() == pytest.approx(0.95 * 5 + 0.0475 * 6 + 0.002375 * 7, abs=1e-5)


def test_empty_scene_gives_background():
    cam = _front_camera()
    bg = torch.tensor([0.1, 0.2, 0.3])
    behind = torch.tensor([[0.0, -10.0, 0.0]])  # behind the camera
    out = rasterize(
        behind,
        torch.tensor([[1.0, 0, 0, 0]]),
        torch.full((1, 3), 0.1),
        torch.tensor([0.9]),
        torch.ones(1, 3),
        cam,
        bg,
    )
    assert out.n_pairs == 0
    torch.testing.assert_close(out.image, bg.expand(9, 9, 3))
    assert out.alpha.abs().max() == 0


def test_pairs_sorted_and_inside_boxes(scene):
    means, quats, scales, opac, _, cam, _ = scene(50, 5)
    proj = project(means, quats, scales, opac, cam)
    pairs = enumerate_pairs(proj, cam.width, cam.height, chunk_pairs=97)
    assert torch.all(pairs.pixel[1:] >= pairs.pixel[:-1])
    same = pairs.pixel[1:] == pairs.pixel[:-1]
    depth = proj.depths[pairs.gauss]
    assert torch.all(depth[1:][same] >= depth[:-1][same])
    assert 0 < len(pairs) <= pairs.boxed < 50 * cam.width * cam.height
    px = (pairs.pixel % cam.width).float() + 0.5
    assert torch.all((px - proj.means2d[pairs.gauss, 0]).abs() <= proj.extents[pairs.gauss, 0])


def test_ewa_jacobian_is_the_pinhole_derivative(scene):
    means, *_, cam, _ = scene(6, 2)
    t = to_camera(means.double(), cam.to(dtype=torch.float64))

    def pin(p):
        return torch.stack([cam.fx * p[0] / p[2] + cam.cx, cam.fy * p[1] / p[2] + cam.cy])

    jac = ewa_jacobian(t, cam, RasterConfig())
    for i in range(6):
        torch.testing.assert_close(jac[i], torch.autograd.functional.jacobian(pin, t[i]))


def test_opacity_bounds_shrink_with_opacity(scene):
    means, quats, scales, _, _, cam, _ = scene(5, 4)
    lo = project(means, quats, scales, torch.full((5,), 0.05), cam).extents
    hi = project(means, quats, scales, torch.full((5,), 0.9), cam).extents
    assert torch.all(lo < hi)
    ratio = math.sqrt(math.log(0.05 * 255) / math.log(0.9 * 255))
    torch.testing.assert_close(lo / hi, torch.full_like(lo, ratio))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("means", float("nan"), "NaN"), ("scales", -1.0, ">= 0"), ("quats", 0.0, "quaternion")],
)
def test_bad_input_raises(scene, field, value, message):
    means, quats, scales, opac, colors, cam, bg = scene(3, 0)
    args = {"means": means, "quats": quats, "scales": scales}
    args[field] = torch.full_like(args[field], value)
    with pytest.raises(ValueError, match=message):
        rasterize(args["means"], args["quats"], args["scales"], opac, colors, cam, bg)


def test_shape_errors(scene):
    means, quats, scales, opac, colors, cam, bg = scene(3, 0)
    with pytest.raises(ValueError, match="quats must have shape"):
        rasterize(means, quats[:, :3], scales, opac, colors, cam, bg)


def test_tile_padded_baseline_matches_reference(scene):
    means, quats, scales, opac, colors, cam, bg = scene(40, 8, 37, 21)
    out = rasterize_tiles(means, quats, scales, opac, colors, cam, bg, tile=8)
    ref = rasterize_reference(means, quats, scales, opac, colors, cam, bg)
    assert (out.color.double() - ref.color).abs().max() <= 1e-5
    assert (out.alpha.double() - ref.alpha).abs().max() <= 1e-5


def test_zero_scale_renders_as_the_dilation_kernel():
    """exp(log-scale) can underflow to 0: the 0.3 px^2 dilation still defines the footprint."""
    cam = _front_camera()
    out = rasterize(
        torch.zeros(1, 3),
        torch.tensor([[1.0, 0, 0, 0]]),
        torch.zeros(1, 3),
        torch.tensor([0.8]),
        torch.ones(1, 3),
        cam,
    )
    assert out.alpha[4, 4].item() == pytest.approx(0.8, abs=1e-6)
    assert out.alpha[4, 5].item() == pytest.approx(0.8 * math.exp(-0.5 / 0.3), abs=1e-6)
