"""Two-stage 4D-GS training (Wu et al. 2024): a static coarse 3D-GS stage with adaptive density
control, then the HexPlane deformation field trained jointly with the Gaussians.

Loss: L1 (+ ``lambda_ssim`` * (1 - SSIM)) + ``lambda_plane`` * plane smoothness
+ ``lambda_time`` * time smoothness (fine stage). Checkpoints are written atomically every
``checkpoint_every`` steps and training resumes from the last one; a non-finite loss or
parameter stops training with ``TrainingDiverged`` and leaves the last good checkpoint intact.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from accelerator_utils import atomic_torch_save, make_generator, resolve_device
from accelerator_utils import progress as progress_bar
from gauss4d.camera import Camera
from gauss4d.data.dnerf import DNeRFSplit
from gauss4d.deformation import DeformationConfig, DeformationField
from gauss4d.gaussians import Gaussians
from gauss4d.hexplane import HexPlaneConfig
from gauss4d.metrics import psnr, ssim_map
from gauss4d.model import DynamicModel
from gauss4d.raster import RasterConfig
from gauss4d.render import render
from gauss4d.train.densify import DensifyConfig, GradStats, densify_and_prune, reset_opacity
from gauss4d.train.init import init_random
from gauss4d.train.optim import Adam, GaussianAdam

CHECKPOINT = "checkpoint.pt"


class TrainingDiverged(RuntimeError):
    """A loss or parameter became NaN/Inf; the last good checkpoint is kept."""


_LR_FIELDS = (
    "lr_means",
    "lr_means_final",
    "lr_sh",
    "lr_opacity",
    "lr_scales",
    "lr_quats",
    "lr_grid",
    "lr_grid_final",
    "lr_mlp",
    "lr_mlp_final",
)


@dataclass(frozen=True)
class TrainConfig:
    """Iterations, learning rates (per Gaussian tensor, deformation grid and MLP), density
    control schedule and loss weights. Defaults follow 3D-GS / 4D-GS.

    ``half_extent``: the box [-h, h]^3 of the random initialisation. ``scene_extent``: the
    spatial scale (world units) that the position, grid and MLP learning rates and the density
    control thresholds are multiplied by, as 3D-GS / 4D-GS do; None takes it from the training
    cameras (``camera_extent``). Position lr decays exponentially from ``lr_means`` to
    ``lr_means_final`` over the run, grid and MLP lrs from ``lr_grid`` / ``lr_mlp`` to their
    ``_final`` values over the fine stage (4D-GS).

    ``random_background``: each step draws a uniform random background colour, composites the
    training frame over it with the frame's alpha and renders over it (as Instant-NGP and
    nerfstudio train on RGBA data). Matter of the dataset's background colour then costs loss,
    so the Gaussians learn the object's silhouette rather than painting the background, which
    other viewpoints would see. Needs frames with a meaningful alpha (D-NeRF's RGBA images).
    """

    coarse_iters: int = 3000
    fine_iters: int = 6000
    n_init: int = 3000
    half_extent: float = 1.3
    scene_extent: float | None = None
    sh_degree: int = 3
    sh_every: int = 1000
    lr_means: float = 1.6e-4
    lr_means_final: float = 1.6e-6
    lr_sh: float = 2.5e-3
    lr_opacity: float = 0.05
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_grid: float = 1.6e-3
    lr_grid_final: float = 1.6e-4
    lr_mlp: float = 1.6e-4
    lr_mlp_final: float = 1.6e-5
    densify_from: int = 500
    densify_until: int = 2500
    densify_every: int = 100
    opacity_reset_every: int = 3000
    densify_fine: bool = True
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    deformation: DeformationConfig = field(default_factory=DeformationConfig)
    lambda_ssim: float = 0.0
    lambda_plane: float = 2e-4
    lambda_time: float = 1e-3
    random_background: bool = False
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.coarse_iters < 1 or self.fine_iters < 0 or self.n_init < 4:
            raise ValueError("need coarse_iters >= 1, fine_iters >= 0 and n_init >= 4")
        if self.checkpoint_every < 1 or self.log_every < 1 or self.densify_every < 1:
            raise ValueError("checkpoint_every, log_every and densify_every must be >= 1")
        if self.scene_extent is not None and not self.scene_extent > 0:
            raise ValueError(f"scene_extent must be > 0 or None, got {self.scene_extent}")
        lrs = [getattr(self, n) for n in _LR_FIELDS]
        if not all(lr > 0 and math.isfinite(lr) for lr in lrs):
            raise ValueError(f"learning rates {_LR_FIELDS} must be finite and > 0, got {lrs}")
        if self.half_extent <= 0:
            raise ValueError(f"half_extent must be > 0, got {self.half_extent}")

    @property
    def total_iters(self) -> int:
        return self.coarse_iters + self.fine_iters


@dataclass
class TrainResult:
    """model: the trained scene; static: a copy of the coarse (static) stage's Gaussians;
    history: logged {step, stage, loss, psnr, n_gaussians}; seconds: wall time of this call."""

    model: DynamicModel
    static: DynamicModel
    history: list[dict]
    seconds: float
    checkpoint: Path | None


def camera_extent(cameras: list[Camera]) -> float:
    """3D-GS's scene scale: 1.1 times the largest distance of a camera centre from their mean
    (world units). For cameras on a sphere of radius r around the scene it is about 1.1 r.
    With a single viewpoint it falls back to 1.1 times the camera's distance from the origin."""
    centers = torch.stack([c.center.double() for c in cameras])
    radius = (centers - centers.mean(0)).norm(dim=-1).max().item()
    if radius < 1e-6:
        radius = centers.norm(dim=-1).max().item()
    return 1.1 * radius if radius > 1e-6 else 1.0


def log_lerp(start: float, end: float, frac: float) -> float:
    """Exponential interpolation from ``start`` (frac 0) to ``end`` (frac >= 1)."""
    frac = min(max(frac, 0.0), 1.0)
    return math.exp((1 - frac) * math.log(start) + frac * math.log(end))


def _means_lr(cfg: TrainConfig, step: int, extent: float) -> float:
    """Exponential decay from lr_means to lr_means_final over the whole run (times extent)."""
    return log_lerp(cfg.lr_means, cfg.lr_means_final, step / max(cfg.total_iters, 1)) * extent


def _deform_lrs(cfg: TrainConfig, step: int, extent: float) -> tuple[float, float]:
    """(grid lr, MLP lr) at global ``step``: exponential decay over the fine stage, times extent."""
    frac = (step - cfg.coarse_iters) / max(cfg.fine_iters, 1)
    return (
        log_lerp(cfg.lr_grid, cfg.lr_grid_final, frac) * extent,
        log_lerp(cfg.lr_mlp, cfg.lr_mlp_final, frac) * extent,
    )


def _lrs(cfg: TrainConfig, extent: float) -> dict[str, float]:
    return {
        "means": cfg.lr_means * extent,
        "log_scales": cfg.lr_scales,
        "quats": cfg.lr_quats,
        "opacity_logits": cfg.lr_opacity,
        "sh": cfg.lr_sh,
    }


def _scene_box(g: Gaussians) -> torch.Tensor:
    """(2, 3) box around the coarse Gaussians (1-99% quantiles, padded by 20%)."""
    lo = torch.quantile(g.means.detach(), 0.01, dim=0)
    hi = torch.quantile(g.means.detach(), 0.99, dim=0)
    pad = 0.2 * (hi - lo) + 1e-3
    return torch.stack([lo - pad, hi + pad])


class _State:
    """Everything that a checkpoint holds. Tensors live on ``device``; the random generator
    stays on the CPU, so a seed draws the same numbers on every device."""

    def __init__(self, cfg: TrainConfig, extent: float, device: torch.device):
        self.cfg = cfg
        self.extent = extent
        self.device = device
        self.gen = make_generator(cfg.seed)
        self.step = 0
        self.history: list[dict] = []
        init = init_random(cfg.n_init, cfg.half_extent, cfg.sh_degree, self.gen)
        self.opt = GaussianAdam(init.to(device), _lrs(cfg, extent))
        self.stats = GradStats(cfg.n_init, device)
        self.deform: DeformationField | None = None
        self.deform_opt: Adam | None = None
        self.static: Gaussians | None = None

    def start_fine(self) -> None:
        self.static = self.opt.gaussians.detach()
        box = _scene_box(self.static).cpu()
        self.deform = DeformationField(self.cfg.deformation, box, self.gen).to(self.device)
        params = dict(self.deform.named_parameters())
        self.deform_opt = Adam(params, dict.fromkeys(params, 0.0), eps=1e-15)
        self.set_deform_lrs()

    def set_deform_lrs(self) -> None:
        grid, mlp = _deform_lrs(self.cfg, self.step, self.extent)
        for n in self.deform_opt.lrs:
            self.deform_opt.lrs[n] = grid if n.startswith("encoder.") else mlp

    def save(self, path: Path) -> None:
        atomic_torch_save(
            {
                "config": asdict(self.cfg),
                "step": self.step,
                "extent": self.extent,
                "history": self.history,
                "opt": self.opt.state_dict(),
                "rng": self.gen.get_state(),
                "static": None if self.static is None else self.static.tensors(),
                "aabb": None if self.deform is None else self.deform.encoder.aabb,
                "deform": None if self.deform is None else self.deform.state_dict(),
                "deform_opt": None
                if self.deform_opt is None
                else {k: self.deform_opt.state_dict()[k] for k in ("m", "v", "t")},
            },
            path,
        )

    def load(self, path: Path) -> None:
        ck = torch.load(path, map_location=self.device, weights_only=False)
        _check_resumable(ck["config"], asdict(self.cfg), path)
        self.step, self.history = ck["step"], ck["history"]
        self.opt.load_state_dict(ck["opt"])
        self.stats = GradStats(len(self.opt.gaussians), self.device)
        if ck["static"] is not None:
            self.start_fine()
            self.static = Gaussians(**ck["static"])
            self.deform.load_state_dict(ck["deform"])
            self.deform_opt.m, self.deform_opt.v = ck["deform_opt"]["m"], ck["deform_opt"]["v"]
            self.deform_opt.t = dict(ck["deform_opt"]["t"])
        self.gen.set_state(ck["rng"].cpu())

    def model(self) -> DynamicModel:
        return DynamicModel(self.opt.gaussians.detach(), self.deform)


# TrainConfig fields that fix the shapes of a checkpoint's tensors: a run resumes only with the
# values it was written with (schedules, rates and loss weights may change between calls).
_SHAPE_FIELDS = ("sh_degree", "deformation")


def _check_resumable(saved: dict, current: dict, path: Path) -> None:
    for name in _SHAPE_FIELDS:
        if saved.get(name) != current[name]:
            raise ValueError(
                f"{path} was written with {name}={saved.get(name)!r}, this run asks for "
                f"{current[name]!r}: resume with the configuration the run was started with, "
                "or train into a new directory"
            )


def _loss(state: _State, data: DNeRFSplit, idx: int, raster: RasterConfig):
    cfg = state.cfg
    cam, t, target = data.cameras[idx], float(data.times[idx]), data.images[idx]
    background = data.background
    if cfg.random_background:
        background = torch.rand(3, generator=state.gen).to(target)
        target = target + (background - data.background) * (1 - data.alphas[idx, ..., None])
    g = state.opt.gaussians
    if state.deform is not None:
        g = state.deform(g, t)
    out = render(g, cam, background, raster, min(state.step // cfg.sh_every, cfg.sh_degree))
    out.means2d.retain_grad()
    loss = (out.image - target).abs().mean()
    if cfg.lambda_ssim > 0:
        loss = (1 - cfg.lambda_ssim) * loss + cfg.lambda_ssim * (
            1 - ssim_map(out.image, target).mean()
        )
    if state.deform is not None:
        regs = state.deform.regularisers()
        loss = loss + cfg.lambda_plane * regs["plane"] + cfg.lambda_time * regs["time"]
    return loss, out, psnr(out.image.detach().clamp(0, 1), target)


def _check_finite(state: _State, loss: torch.Tensor, ckpt: Path | None) -> None:
    bad = None if torch.isfinite(loss) else "loss"
    for name, t in state.opt.gaussians.tensors().items():
        if bad is None and not torch.isfinite(t).all():
            bad = f"Gaussians.{name}"
    if bad is not None:
        where = (
            f"; the last good checkpoint is {ckpt}" if ckpt is not None and ckpt.exists() else ""
        )
        raise TrainingDiverged(
            f"{bad} became NaN/Inf at step {state.step}{where}. Lower the learning rates "
            "or check the input images."
        )


def train(
    data: DNeRFSplit,
    cfg: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    raster: RasterConfig | None = None,
    progress: bool | None = None,
    stop_at: int | None = None,
    device: torch.device | str = "cpu",
) -> TrainResult:
    """Train a 4D-GS model on ``data`` (a D-NeRF split). With ``out_dir`` the run checkpoints to
    ``out_dir/checkpoint.pt`` and resumes from it when present. ``stop_at`` ends this call after
    that global step (checkpointed), for time-boxed sessions; a later call resumes. ``device``:
    where the model and the frames live ("cpu", "cuda", "auto"; see ``resolve_device``)."""
    cfg = cfg or TrainConfig()
    raster = raster or RasterConfig()
    if len(data) < 1:
        raise ValueError("the training split has no frames")
    start = time.perf_counter()
    device = resolve_device(device)
    data = data.to(device)
    extent = cfg.scene_extent if cfg.scene_extent is not None else camera_extent(data.cameras)
    state = _State(cfg, extent, device)
    ckpt = None if out_dir is None else Path(out_dir) / CHECKPOINT
    if ckpt is not None and ckpt.exists():
        state.load(ckpt)
    bar = progress_bar(total=cfg.total_iters, desc="train", enabled=progress)
    bar.update(state.step)
    end = cfg.total_iters if stop_at is None else min(stop_at, cfg.total_iters)
    while state.step < end:
        if state.step == cfg.coarse_iters and state.deform is None:
            state.start_fine()
            state.stats = GradStats(len(state.opt.gaussians), device)
        idx = int(torch.randint(len(data), (1,), generator=state.gen))
        loss, out, score = _loss(state, data, idx, raster)
        _check_finite(state, loss.detach(), ckpt)
        loss.backward()
        _density_control(state, out, data.cameras[idx])
        state.opt.step()
        if state.deform_opt is not None:
            state.set_deform_lrs()
            state.deform_opt.step()
            state.deform_opt.zero_grad()
        state.opt.zero_grad()
        _check_finite(state, loss.detach(), ckpt)
        state.step += 1
        state.opt.lrs["means"] = _means_lr(cfg, state.step, state.extent)
        if state.step % cfg.log_every == 0 or state.step == cfg.total_iters:
            stage = "coarse" if state.deform is None else "fine"
            state.history.append(
                {
                    "step": state.step,
                    "stage": stage,
                    "loss": loss.item(),
                    "psnr": score,
                    "n_gaussians": len(state.opt.gaussians),
                }
            )
            bar.set_postfix(stage=stage, psnr=f"{score:.2f}", n=len(state.opt.gaussians))
        if ckpt is not None and (state.step % cfg.checkpoint_every == 0 or state.step == end):
            state.save(ckpt)
        bar.update(1)
    bar.close()
    static = state.static if state.static is not None else state.opt.gaussians.detach()
    return TrainResult(
        state.model(), DynamicModel(static), state.history, time.perf_counter() - start, ckpt
    )


def _density_control(state: _State, out, camera) -> None:
    """Density control on the schedule of the current stage (``densify_fine``: also in the fine
    stage, counting steps from its start, as the 4D-GS code does). It stops ``densify_every``
    steps before the stage ends: fresh clones, split children or reset opacities need steps of
    optimisation, and the coarse stage's last Gaussians are the static model."""
    cfg, step = state.cfg, state.step
    stage_end = cfg.coarse_iters
    if state.deform is not None:
        if not cfg.densify_fine:
            return
        step -= cfg.coarse_iters
        stage_end = cfg.fine_iters
    if step >= min(cfg.densify_until, stage_end - cfg.densify_every):
        return
    if out.means2d.grad is not None:
        state.stats.add(out.means2d.grad, out.visible, camera.width, camera.height)
    if step >= cfg.densify_from and (step + 1) % cfg.densify_every == 0:
        densify_and_prune(
            state.opt,
            state.stats,
            state.extent,
            cfg.densify,
            state.gen,
            prune_large=step > cfg.opacity_reset_every,
        )
        state.stats = GradStats(len(state.opt.gaussians), state.device)
    if (step + 1) % cfg.opacity_reset_every == 0:
        reset_opacity(state.opt)


def config_from_dict(d: dict) -> TrainConfig:
    """Rebuild a TrainConfig from ``asdict`` output (as stored in checkpoints)."""
    d = dict(d)
    deform = dict(d.pop("deformation"))
    hexplane = HexPlaneConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in deform.pop("hexplane").items()}
    )
    densify = DensifyConfig(**d.pop("densify"))
    return TrainConfig(
        **d, densify=densify, deformation=DeformationConfig(hexplane=hexplane, **deform)
    )


def load_run(
    run_dir: str | Path, device: torch.device | str = "cpu"
) -> tuple[DynamicModel, DynamicModel]:
    """(trained model, static coarse-stage model) from ``run_dir/checkpoint.pt``, on ``device``."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: train a model with `gauss4d train` first")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    state = _State(config_from_dict(ck["config"]), ck["extent"], resolve_device(device))
    state.load(path)
    static = state.static if state.static is not None else state.opt.gaussians.detach()
    return state.model(), DynamicModel(static)
