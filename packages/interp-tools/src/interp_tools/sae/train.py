"""Train an SAE with Adam: decoder-norm constraint, AuxK and dead-latent resampling."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch

from accelerator_utils import make_generator
from accelerator_utils import progress as progress_bar
from accelerator_utils.distributed import all_reduce, shard_range, world_size
from interp_tools.sae.config import SAEConfig, TrainConfig
from interp_tools.sae.model import SparseAutoencoder


@dataclass
class SAETrainResult:
    """The trained SAE, per-step history (loss, mse, l0) and how many latents were resampled."""

    sae: SparseAutoencoder
    history: list[dict[str, float]] = field(default_factory=list)
    n_resampled: int = 0


def _batches(
    source: torch.Tensor | Iterable[torch.Tensor], batch_size: int, gen: torch.Generator
) -> Iterator[torch.Tensor]:
    if isinstance(source, torch.Tensor):
        if source.ndim != 2 or source.shape[0] < 1:
            raise ValueError(
                f"activations must be [N, d_in] with N >= 1, got {tuple(source.shape)}"
            )
        while True:
            yield source[torch.randint(source.shape[0], (batch_size,), generator=gen)]
    else:
        yield from source


@torch.no_grad()
def resample_dead(
    sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor, opt: torch.optim.Adam
) -> int:
    """Bricken et al. (2023): dead latents restart at inputs drawn ∝ squared loss.

    Decoder row ← unit (x − b_dec); encoder column ← it × 0.2 × mean alive encoder norm;
    b_enc ← 0; Adam moments of those entries reset. Returns the number resampled.
    """
    idx = dead.nonzero().flatten()
    if idx.numel() == 0:
        return 0
    loss = (x - sae(x).recon).pow(2).sum(-1)
    rows = torch.multinomial(loss + 1e-12, idx.numel(), replacement=True)
    new = x[rows] - sae.b_dec
    new = new / new.norm(dim=1, keepdim=True).clamp_min(1e-12)
    alive = ~dead
    scale = 0.2 * (sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else 1.0)
    sae.W_dec[idx] = new
    sae.W_enc[:, idx] = new.T * scale
    sae.b_enc[idx] = 0.0
    for p, sl in ((sae.W_dec, idx), (sae.b_enc, idx)):
        for key in ("exp_avg", "exp_avg_sq"):
            if key in opt.state.get(p, {}):
                opt.state[p][key][sl] = 0.0
    for key in ("exp_avg", "exp_avg_sq"):
        if key in opt.state.get(sae.W_enc, {}):
            opt.state[sae.W_enc][key][:, idx] = 0.0
    return int(idx.numel())


def train_sae(
    activations: torch.Tensor | Iterable[torch.Tensor],
    cfg: SAEConfig,
    train: TrainConfig | None = None,
    *,
    seed: int | torch.Generator | None = 0,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
) -> SAETrainResult:
    """Train an SAE on ``activations``: a tensor [N, d_in] (sampled with replacement) or an
    iterable of [batch, d_in] batches (e.g. an ``ActivationStore``).

    Inside a ``torch.distributed`` group (``accelerator_utils.distributed.init_from_env``)
    every rank draws the same global batch, keeps its contiguous shard, and gradients and
    firing statistics are averaged / combined: the same result as one process on the same
    data order (batch_size must divide by the world size; not for batchtopk or resampling).
    ``seed`` (or a generator) drives the initialisation and the batch sampling; ``progress``:
    show a bar (None: only on a terminal outside CI).
    """
    train = train or TrainConfig()
    world = world_size()
    if world > 1 and (cfg.kind == "batchtopk" or train.resample_every or train.batch_size % world):
        raise ValueError(
            "distributed SAE training needs a per-token kind (not batchtopk), no resampling "
            f"and batch_size divisible by the world size {world}"
        )
    gen = make_generator(seed)
    sae = SparseAutoencoder(cfg, generator=gen, device=device)
    batches = _batches(activations, train.batch_size, gen)
    first = next(batches)
    sae._check(first)
    with torch.no_grad():  # b_dec at the data mean: the mean predictor is the starting point
        sae.b_dec.copy_(first.mean(0).to(device))
    opt = torch.optim.Adam(sae.parameters(), lr=train.lr)
    since_fired = torch.zeros(cfg.d_sae, dtype=torch.long, device=device)
    result = SAETrainResult(sae)
    x = first
    for it in progress_bar(range(train.steps), desc=f"SAE {cfg.kind}", enabled=progress):
        if it:
            try:
                x = next(batches)
            except StopIteration:
                break
        x = x.to(device)
        if world > 1:
            mine = shard_range(x.shape[0])
            x = x[mine.start : mine.stop]
        dead = since_fired >= train.dead_after
        out = sae(x, dead=dead)
        if not torch.isfinite(out.loss):
            raise FloatingPointError(
                f"SAE loss became {out.loss.item()} at step {it}; lower the learning rate "
                "or check the activations for NaN/Inf"
            )
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        if world > 1:
            for p in sae.parameters():
                if p.grad is not None:
                    all_reduce(p.grad, "mean")
        if train.normalize_decoder:
            sae.remove_parallel_decoder_grad()
        opt.step()
        if train.normalize_decoder:
            sae.normalize_decoder()
        fired = all_reduce((out.latents > 0).any(0).to(torch.int32), "max") > 0
        since_fired = torch.where(fired, 0, since_fired + x.shape[0] * world)
        if train.resample_every and (it + 1) % train.resample_every == 0:
            n = resample_dead(sae, x, since_fired >= train.dead_after, opt)
            result.n_resampled += n
            since_fired[since_fired >= train.dead_after] = 0
        result.history.append(
            {
                "loss": out.loss.item(),
                "mse": out.mse.item(),
                "l0": (out.latents > 0).sum(-1).float().mean().item(),
            }
        )
    sae.eval()
    return result
