"""Run ``train_sae`` data-parallel on CPU processes (gloo), e.g. to check it against one process."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from accelerator_utils import make_generator
from accelerator_utils.distributed import barrier, cleanup, init_from_env
from interp_tools.sae.config import SAEConfig, TrainConfig
from interp_tools.sae.io import save_sae
from interp_tools.sae.train import train_sae


def _worker(
    rank: int,
    world: int,
    store_path: str,
    x: torch.Tensor,
    cfg: SAEConfig,
    train: TrainConfig,
    seed: int | None,
    out: str,
    progress: bool | None,
) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    # A file store has no server process: with TCP, rank 0 owns the store and leaving first could
    # abort a peer still tearing down (seen under load).
    store = dist.FileStore(store_path, world)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world)
    init_from_env("gloo")  # already joined: returns this rank's DistInfo
    try:
        result = train_sae(x, cfg, train, seed=seed, progress=progress if rank == 0 else False)
        if rank == 0:
            save_sae(result.sae, out)
        barrier()  # no rank tears gloo down while a peer is still using it
    finally:
        cleanup()
    # Work is done and saved. Leave without interpreter teardown: gloo's C++ threads can abort
    # ("terminate called without an active exception") while static objects are destroyed,
    # which spawn would report as a failed rank. Errors above still propagate normally.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


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
    with tempfile.TemporaryDirectory() as tmp:
        args = (world, os.path.join(tmp, "store"), x, cfg, train, seed, str(out), progress)
        mp.spawn(_worker, args=args, nprocs=world, join=True)
    return Path(out)
