"""CUDA paths: our rasterizer and training on a GPU, and the optional gsplat backend.

The CUDA tests skip without a GPU (and the gsplat ones without gsplat); the configuration
checks run everywhere."""

from __future__ import annotations

import pytest
import torch

from gauss4d.data import load_dnerf
from gauss4d.evaluate import evaluate
from gauss4d.raster import RasterConfig, rasterize
from gauss4d.raster.gsplat_backend import check_gsplat_config
from gauss4d.train import train

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_backend_is_validated():
    with pytest.raises(ValueError, match="backend must be one of"):
        RasterConfig(backend="cuda")


def test_gsplat_backend_rejects_cpu_tensors_and_changed_thresholds(scene):
    means, quats, scales, opac, colors, cam, bg = scene(5, 0)
    with pytest.raises(ValueError, match="CUDA tensors"):
        rasterize(means, quats, scales, opac, colors, cam, bg, RasterConfig(backend="gsplat"))
    cfg = RasterConfig(backend="gsplat", transmittance_min=1e-3)
    with pytest.raises(ValueError, match="transmittance_min"):
        check_gsplat_config(cfg, torch.device("cuda"))


def _grads(scene, device, cfg):
    cam, bg = scene[5].to(device), scene[6].to(device)
    params = [p.to(device).clone().requires_grad_() for p in scene[:5]]
    out = rasterize(*params, cam, bg, cfg)
    out.means2d.retain_grad()
    w = torch.randn(cam.height, cam.width, 3, generator=torch.Generator().manual_seed(0))
    w = w.to(device)
    loss = (out.image * w).sum() + (out.alpha * w[..., 0]).sum() + (out.depth * w[..., 1]).sum()
    loss.backward()
    return out, [p.grad.cpu() for p in params]


def _assert_same(out_a, grads_a, out_b, grads_b, atol, rtol):
    for name in ("image", "alpha", "depth"):
        a, b = getattr(out_a, name).cpu(), getattr(out_b, name).cpu()
        torch.testing.assert_close(a, b, atol=atol, rtol=0, msg=name)
    # out_b is ours: "visible" = reached a pixel; gsplat's (radius > 0) may also count
    # Gaussians whose box touches the image but no pixel centre passes the alpha test
    vis_a, vis_b = out_a.visible.cpu(), out_b.visible.cpu()
    assert bool((vis_a | ~vis_b).all()) and (vis_a == vis_b).float().mean() >= 0.95
    for name, a, b in zip(("means", "quats", "scales", "opacities", "colors"), grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * b.abs().max().item(), msg=name)


@cuda
def test_cuda_matches_cpu(scene):
    s = scene(200, 1, width=64, height=48)
    cpu_out, cpu_grads = _grads(s, "cpu", RasterConfig())
    gpu_out, gpu_grads = _grads(s, "cuda", RasterConfig())
    _assert_same(gpu_out, gpu_grads, cpu_out, cpu_grads, atol=1e-5, rtol=1e-3)


@cuda
def test_gsplat_backend_matches_ours(scene):
    pytest.importorskip("gsplat")
    s = scene(200, 2, width=64, height=48)
    ours, our_grads = _grads(s, "cuda", RasterConfig())
    theirs, their_grads = _grads(s, "cuda", RasterConfig(backend="gsplat"))
    _assert_same(theirs, their_grads, ours, our_grads, atol=1e-4, rtol=1e-2)
    # the densification statistic: pixel-space gradient of the screen positions
    torch.testing.assert_close(
        theirs.means2d.grad.reshape(-1, 2).cpu(), ours.means2d.grad.cpu(), rtol=1e-2, atol=1e-4
    )


@cuda
def test_training_and_evaluation_on_cuda(tiny_scene, tiny_cfg, tmp_path):
    cfg = tiny_cfg(densify_from=2, densify_every=2)
    data = load_dnerf(tiny_scene, "train")
    gpu = train(data, cfg, tmp_path / "gpu", progress=False, device="cuda")
    assert gpu.model.gaussians.means.device.type == "cuda"
    assert gpu.history[-1]["loss"] < gpu.history[0]["loss"]
    res = evaluate(gpu.model, load_dnerf(tiny_scene, "test"))
    assert res.psnr > 5 and res.fps > 0
    resumed = train(data, cfg, tmp_path / "gpu", progress=False, device="cuda")  # from checkpoint
    assert resumed.model.n_gaussians() == gpu.model.n_gaussians()
