"""Training machinery: optimiser surgery, density control, resume and the NaN guard."""

from __future__ import annotations

import math

import pytest
import torch

from gauss4d.camera import orbit_camera
from gauss4d.data import load_dnerf
from gauss4d.data.dnerf import DNeRFSplit
from gauss4d.data.synthetic import render_view
from gauss4d.deformation import DeformationConfig
from gauss4d.gaussians import Gaussians
from gauss4d.hexplane import HexPlaneConfig
from gauss4d.metrics import psnr
from gauss4d.raster import RasterConfig
from gauss4d.render import render
from gauss4d.sh import rgb_to_sh0
from gauss4d.train import TrainConfig, TrainingDiverged, train
from gauss4d.train.densify import DensifyConfig, GradStats, densify_and_prune, reset_opacity
from gauss4d.train.init import init_from_points, init_random
from gauss4d.train.optim import Adam, GaussianAdam
from gauss4d.train.trainer import (
    _deform_lrs,
    _loss,
    _lrs,
    _means_lr,
    _State,
    camera_extent,
    load_run,
)

LRS = {"means": 1e-2, "log_scales": 1e-2, "quats": 1e-2, "opacity_logits": 1e-2, "sh": 1e-2}


def _stepped_optimizer(n=6):
    opt = GaussianAdam(init_random(n, 1.0, 0, torch.Generator().manual_seed(0)), LRS)
    loss = sum(t.square().sum() for t in opt.gaussians.tensors().values())
    loss.backward()
    opt.step()
    return opt


def test_init_from_points_scale_is_knn_distance():
    pts = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [5.0, 5, 5]])
    g = init_from_points(pts, sh_degree=1)
    assert g.scales()[0, 0].item() == pytest.approx(1.0)
    assert g.opacities()[0].item() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least 4"):
        init_from_points(pts[:3])


def test_adam_matches_its_closed_form():
    """Two steps on f(x) = sum(c * x): m, v follow the recursions, the first step is -lr * sign."""
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    c = torch.tensor([0.5, -4.0, 0.0])
    opt = Adam({"x": x}, {"x": 0.1}, eps=1e-8)
    for _ in range(2):
        (c * opt.params["x"]).sum().backward()
        opt.step()
        opt.zero_grad()
    m1, v1 = 0.1 * c, 0.001 * c * c
    m2, v2 = 0.9 * m1 + 0.1 * c, 0.999 * v1 + 0.001 * c * c
    step2 = 0.1 / (1 - 0.9**2) * m2 / ((v2 / (1 - 0.999**2)).sqrt() + 1e-8)
    expected = torch.tensor([1.0, -2.0, 3.0]) - 0.1 * torch.sign(c) - step2
    torch.testing.assert_close(opt.params["x"].detach(), expected)


def test_keep_and_append_carry_adam_moments():
    opt = _stepped_optimizer()
    before = opt.m["means"].clone(), opt.v["means"].clone()
    mask = torch.tensor([True, False, True, True, False, True])
    opt.keep(mask)
    torch.testing.assert_close(opt.m["means"], before[0][mask])
    torch.testing.assert_close(opt.v["means"], before[1][mask])
    opt.append(init_random(4, 1.0, 0))
    assert len(opt.gaussians) == 8 and opt.m["means"].shape == (8, 3)
    assert opt.m["means"][4:].abs().sum() == 0 and opt.v["sh"][4:].abs().sum() == 0
    opt.gaussians.means.sum().backward()
    opt.step()  # the swapped leaves are the ones being optimised


def test_clone_small_split_large_and_prune():
    opt = _stepped_optimizer(4)
    g = opt.gaussians.detach()
    with torch.no_grad():
        logs = torch.tensor([[-6.0] * 3, [-6.0] * 3, [-1.0] * 3, [-1.0] * 3])
        opt.reset("log_scales", logs)
        opt.reset("opacity_logits", torch.tensor([0.0, 0.0, 0.0, -10.0]))
    stats = GradStats(4)
    stats.add(
        torch.tensor([[1.0, 0], [0, 0], [1.0, 0], [0, 0]]), torch.ones(4, dtype=torch.bool), 2, 2
    )
    counts = densify_and_prune(opt, stats, 1.0, DensifyConfig(grad_threshold=0.5))
    assert counts == {"cloned": 1, "split": 1, "pruned": 2}  # split parent and transparent one
    out = opt.gaussians.detach()
    assert len(out) == 4 + 1 + 2 - 2
    children = out.log_scales[-2:]
    torch.testing.assert_close(children, torch.full((2, 3), -1.0 - math.log(1.6)))
    assert torch.allclose(out.means[2], g.means[0])  # the clone sits on its parent
    reset_opacity(opt)
    assert opt.gaussians.opacities().max() <= 0.01 + 1e-6


@pytest.fixture(scope="module")
def tiny_data(tiny_scene):
    return load_dnerf(tiny_scene, "train")


@pytest.mark.parametrize("color", [False, True])
def test_resume_equals_uninterrupted(tiny_data, tmp_path, tiny_cfg, color):
    torch.set_num_threads(1)
    deform = DeformationConfig(HexPlaneConfig(4, (4, 4, 4, 4), (1,)), 16, color=color)
    cfg = tiny_cfg(deformation=deform)
    straight = train(tiny_data, cfg, tmp_path / "a", progress=False)
    train(tiny_data, cfg, tmp_path / "b", progress=False, stop_at=9)  # in the fine stage
    resumed = train(tiny_data, cfg, tmp_path / "b", progress=False)
    for name, t in straight.model.gaussians.tensors().items():
        torch.testing.assert_close(resumed.model.gaussians.tensors()[name], t, rtol=1e-5, atol=1e-6)
    model, static = load_run(tmp_path / "b")
    assert model.deformation is not None and static.deformation is None
    assert (model.deformation.d_color is not None) == color
    torch.testing.assert_close(model.gaussians.means, straight.model.gaussians.means)
    with torch.no_grad():
        torch.testing.assert_close(model.at(0.4).sh, straight.model.at(0.4).sh)


def test_resume_with_another_model_shape_is_a_clear_error(tiny_data, tmp_path, tiny_cfg):
    train(tiny_data, tiny_cfg(), tmp_path, progress=False, stop_at=8)  # in the fine stage
    other = DeformationConfig(HexPlaneConfig(4, (4, 4, 4, 8), (1,)), 16)
    with pytest.raises(ValueError, match=r"deformation=.*new directory"):
        train(tiny_data, tiny_cfg(deformation=other), tmp_path, progress=False)
    with pytest.raises(ValueError, match="sh_degree=1, this run asks for 2"):
        train(tiny_data, tiny_cfg(sh_degree=2), tmp_path, progress=False)
    longer = train(tiny_data, tiny_cfg(fine=9), tmp_path, progress=False)  # a schedule may grow
    assert longer.history[-1]["step"] == 15


def test_training_reduces_loss(tiny_data, tiny_cfg):
    res = train(tiny_data, tiny_cfg(total_coarse=40, fine=0, lr_opacity=0.05), progress=False)
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_nan_stops_training_and_keeps_last_good_checkpoint(tiny_data, tmp_path, tiny_cfg):
    train(tiny_data, tiny_cfg(fine=0, checkpoint_every=2), tmp_path, progress=False)
    good = (tmp_path / "checkpoint.pt").read_bytes()
    poisoned = type(tiny_data)(
        tiny_data.images * float("nan"),
        tiny_data.alphas,
        tiny_data.times,
        tiny_data.cameras,
        tiny_data.background,
    )
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        train(poisoned, tiny_cfg(fine=4), tmp_path, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == good


def test_fine_stage_densification_changes_the_count(tiny_data, tiny_cfg):
    cfg = tiny_cfg(
        total_coarse=4,
        fine=8,
        densify_fine=True,
        densify_from=2,
        densify_until=8,
        densify_every=3,
        densify=DensifyConfig(grad_threshold=0.0, max_gaussians=500),
    )
    res = train(tiny_data, cfg, progress=False)
    fine = [h["n_gaussians"] for h in res.history if h["stage"] == "fine"]
    assert fine[-1] > fine[0]


def test_camera_extent_is_3dgs_scene_scale():
    """1.1 x the largest distance of a camera centre from their mean: cameras on a circle of
    radius 3 give 3.3; a single camera falls back to 1.1 x its distance from the origin."""
    cams = [orbit_camera(a * math.pi / 2, 0.0, 3.0, 0.7, 8, 8) for a in range(4)]
    assert camera_extent(cams) == pytest.approx(3.3, rel=1e-5)
    assert camera_extent(cams[:1]) == pytest.approx(3.3, rel=1e-5)


def test_learning_rates_scale_with_extent_and_decay_as_4dgs():
    cfg = TrainConfig(coarse_iters=100, fine_iters=300)
    assert _lrs(cfg, 2.0)["means"] == pytest.approx(2 * cfg.lr_means)
    assert _means_lr(cfg, 400, 2.0) == pytest.approx(2 * cfg.lr_means_final)
    assert _deform_lrs(cfg, 100, 2.0) == pytest.approx((2 * cfg.lr_grid, 2 * cfg.lr_mlp))
    assert _deform_lrs(cfg, 400, 2.0) == pytest.approx(
        (2 * cfg.lr_grid_final, 2 * cfg.lr_mlp_final)
    )
    mid = _deform_lrs(cfg, 250, 1.0)[0]  # exponential: the geometric mean half-way
    assert mid == pytest.approx(math.sqrt(cfg.lr_grid * cfg.lr_grid_final))
    with pytest.raises(ValueError, match="learning rates"):
        TrainConfig(lr_grid_final=0.0)
    with pytest.raises(ValueError, match="scene_extent"):
        TrainConfig(scene_extent=-1.0)


def test_fine_stage_optimiser_follows_the_deformation_schedule():
    cfg = TrainConfig(coarse_iters=10, fine_iters=20, n_init=8, sh_degree=0)
    state = _State(cfg, 2.0, torch.device("cpu"))
    state.step = cfg.coarse_iters
    state.start_fine()
    lrs = state.deform_opt.lrs
    grid = [lr for n, lr in lrs.items() if n.startswith("encoder.")]
    mlp = [lr for n, lr in lrs.items() if not n.startswith("encoder.")]
    assert grid and mlp
    assert grid == pytest.approx([2 * cfg.lr_grid] * len(grid))
    assert mlp == pytest.approx([2 * cfg.lr_mlp] * len(mlp))
    state.step = cfg.total_iters
    state.set_deform_lrs()
    assert min(lrs.values()) == pytest.approx(2 * cfg.lr_mlp_final)
    assert max(lrs.values()) == pytest.approx(2 * cfg.lr_grid_final)


def test_random_background_exposes_background_coloured_matter():
    """Over a random background the target is recomposited from the frame's alpha: the model
    that made the frame scores zero loss, and so does one with an opaque white wall behind it
    when the background is white, but not when the background is random."""
    torch.set_num_threads(1)
    cam = orbit_camera(0.5, 0.4, 3.3, math.radians(40), 16, 16)
    scene = init_random(20, 0.5, 0, torch.Generator().manual_seed(0))
    white = torch.ones(3)
    with torch.no_grad():
        frame = render(scene, cam, white)
    data = DNeRFSplit(frame.image[None], frame.alpha[None], torch.tensor([0.5]), [cam], white)
    wall = Gaussians(
        means=-0.5 * cam.center[None].float(),  # behind the scene, seen from the camera
        log_scales=torch.full((1, 3), math.log(3.0)),
        quats=torch.tensor([[1.0, 0.0, 0.0, 0.0]]),
        opacity_logits=torch.tensor([6.0]),
        sh=rgb_to_sh0(white)[None, None],
    )
    for random_background in (False, True):
        cfg = TrainConfig(n_init=4, sh_degree=0, random_background=random_background)
        losses = []
        for with_wall in (False, True):
            state = _State(cfg, 1.0, torch.device("cpu"))
            state.opt = GaussianAdam(scene, _lrs(cfg, 1.0))
            if with_wall:
                state.opt.append(wall)
            losses.append(_loss(state, data, 0, RasterConfig())[0].item())
        assert losses[0] < 1e-6
        assert (losses[1] > 0.05) == random_background, (random_background, losses)


def test_overfits_one_image():
    """The static machinery (rasterizer gradients, learning rates, activations, density
    control) fits one 16x16 view of the synthetic scene to >= 28 dB in 300 steps."""
    torch.set_num_threads(1)
    cam = orbit_camera(0.5, 0.4, 3.3, math.radians(40), 16, 16)
    rgba = torch.from_numpy(render_view(cam.world_to_cam.double().numpy(), cam.fx, 16, 16, 0.3))
    rgba = rgba.float()
    image = rgba[..., :3] * rgba[..., 3:] + 1 - rgba[..., 3:]
    data = DNeRFSplit(image[None], rgba[None, ..., 3], torch.tensor([0.3]), [cam], torch.ones(3))
    cfg = TrainConfig(
        coarse_iters=300,
        fine_iters=0,
        n_init=300,
        sh_degree=0,
        densify_from=50,
        densify_until=250,
        densify_every=50,
        log_every=300,
    )
    res = train(data, cfg, progress=False)
    out = res.model.render(cam, 0.3, torch.ones(3)).image.clamp(0, 1)
    assert psnr(out, image) >= 28.0


def test_no_density_control_in_the_last_steps_of_a_stage(tiny_data, tiny_cfg):
    """Clones, splits and opacity resets need optimisation afterwards: none in the final
    ``densify_every`` steps of a stage, even when ``densify_until`` lies beyond it."""
    cfg = tiny_cfg(
        total_coarse=20,
        fine=0,
        densify_from=0,
        densify_until=1000,
        densify_every=10,
        opacity_reset_every=20,
        log_every=1,
        densify=DensifyConfig(grad_threshold=0.0, max_gaussians=5000),
    )
    res = train(tiny_data, cfg, progress=False)
    counts = [h["n_gaussians"] for h in res.history]
    assert counts[9] > counts[8]  # densified at step 10
    assert counts[-1] == counts[9]  # but not at the stage's end (step 20)
    assert res.model.gaussians.opacities().max() > 0.011  # and no reset at step 20


def test_presets_are_valid_configs_and_reject_unknown_names():
    from gauss4d.train.presets import PRESETS, preset

    assert set(PRESETS) == {"demo", "synthetic64", "synthetic128"}
    cfg = preset("synthetic64", seed=3, fine_iters=10)
    assert cfg.seed == 3 and cfg.fine_iters == 10
    assert cfg.coarse_iters == PRESETS["synthetic64"].coarse_iters
    with pytest.raises(KeyError, match="synthetic64"):
        preset("nope")
    with pytest.raises(ValueError, match="learning rates"):
        preset("demo", lr_sh=0.0)
