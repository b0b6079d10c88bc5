"""Run ``train_sae`` data-parallel on CPU processes (gloo), e.g. to check it against one process."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from accelerator_utils import make_generator
from accelerator_utils.distributed import barrier, cleanup, init_from_env
from interp_tools.sae.config import SAEConfig, TrainConfig
from interp_tools.sae.io import save_sae
from interp_tools.sae.train import train_sae


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(
    rank: int,
    world: int,
    port: int,
    x: torch.Tensor,
    cfg: SAEConfig,
    train: TrainConfig,
    seed: int | None,
    out: str,
    progress: bool | None,
) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    init_from_env("gloo")
    try:
        result = train_sae(x, cfg, train, seed=seed, progress=progress if rank == 0 else False)
        if rank == 0:
            save_sae(result.sae, out)
        barrier()  # no rank tears gloo down while a peer is still using it
    finally:
        cleanup()


def train_sae_multiprocess(
    x: torch.Tensor,
    cfg: SAEConfig,
    train: TrainConfig,
    out: str | Path,
    *,
    world: int = 2,
    seed: int | None = 0,
    progress: bool | None = None,
) -> Path:
    """Train on ``world`` gloo CPU processes; rank 0 saves the SAE into ``out``.

    ``seed=None`` draws one seed here so that every rank uses the same; ``progress``: rank 0's bar.
    """
    if world < 1:
        raise ValueError(f"world must be >= 1, got {world}")
    if seed is None:
        seed = int(torch.randint(2**62, (1,), generator=make_generator(None)))
    args = (world, _free_port(), x, cfg, train, seed, str(out), progress)
    mp.spawn(_worker, args=args, nprocs=world, join=True)
    return Path(out)
