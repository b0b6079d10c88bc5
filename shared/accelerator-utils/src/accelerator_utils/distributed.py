"""Thin helpers over ``torch.distributed``: torchrun initialisation, reductions, sharding.

Start a program with ``torchrun --nproc_per_node N prog.py``; inside it call
:func:`init_from_env` once. The backend is gloo on the CPU and nccl on CUDA. Without torchrun's
environment, :func:`init_from_env` returns a single-process :class:`DistInfo` and every
reduction is the identity, so the same code runs alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")
ReduceOp = Literal["sum", "mean", "max", "min"]
_OPS = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank, world size, local rank and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_rank_zero(self) -> bool:
        return self.rank == 0


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value is not None else None


def init_from_env(
    backend: Literal["gloo", "nccl"] | None = None, *, timeout_s: float = 300.0
) -> DistInfo:
    """Join the process group described by torchrun's variables (RANK, WORLD_SIZE, ...).

    ``backend=None`` chooses nccl when CUDA is available, else gloo. Each CUDA process is bound
    to ``cuda:LOCAL_RANK``. Without RANK/WORLD_SIZE in the environment, returns rank 0 of 1.
    """
    rank, world = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK") or 0
    if rank is None or world is None:
        device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        return DistInfo(0, 1, 0, device, None)
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(
            backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s)
        )
    return DistInfo(rank, world, local_rank, device, backend)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank_zero_log(
    message: str, *, logger: logging.Logger | None = None, level: int = logging.INFO
) -> None:
    """Log ``message`` from rank 0 only (prints when no logger is given)."""
    if rank() != 0:
        return
    if logger is None:
        print(message, flush=True)
    else:
        logger.log(level, message)


def all_reduce(tensor: torch.Tensor, op: ReduceOp = "sum") -> torch.Tensor:
    """Reduce ``tensor`` across processes in place and return it (``mean`` divides the sum)."""
    if not is_distributed():
        return tensor
    if op == "mean":
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= world_size()
        return tensor
    if op not in _OPS:
        raise ValueError(f"op must be one of sum, mean, max, min; got {op!r}")
    dist.all_reduce(tensor, op=_OPS[op])
    return tensor


def all_reduce_scalar(value: float, op: ReduceOp = "sum") -> float:
    """Reduce a Python number across processes (in float64, on the backend's device)."""
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if (is_distributed() and dist.get_backend() == "nccl")
        else torch.device("cpu")
    )
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    return float(all_reduce(t, op).item())


def shard_range(n: int, rank_: int | None = None, world: int | None = None) -> range:
    """The contiguous slice of ``range(n)`` owned by ``rank_``: sizes differ by at most one."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if not 0 <= rank_ < world:
        raise ValueError(f"rank {rank_} outside a world of {world}")
    base, extra = divmod(n, world)
    start = rank_ * base + min(rank_, extra)
    return range(start, start + base + (1 if rank_ < extra else 0))


def shard(items: Sequence[T], rank_: int | None = None, world: int | None = None) -> Sequence[T]:
    """This rank's contiguous share of ``items`` (see :func:`shard_range`)."""
    r = shard_range(len(items), rank_, world)
    return items[r.start : r.stop]


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group if one was joined."""
    if is_distributed():
        dist.destroy_process_group()
