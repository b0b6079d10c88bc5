"""The Mamba-2 block (Dao & Gu 2024): one in_proj to ``[z, x, B, C, dt]``, causal depthwise conv
over ``xBC``, SiLU, multi-head SSD with scalar ``A`` per head and grouped ``B``/``C``, ``D`` skip,
gated RMSNorm, out_proj; full, stateful chunked and one-token step modes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssm_core.mamba import MambaState, dt_bias_init
from ssm_core.precision import compute_dtype, upcast
from ssm_core.ssd import ssd


@dataclass(frozen=True)
class Mamba2Config:
    """Sizes of a Mamba-2 block; ``heads = expand * d_model / head_dim``; ``A`` is initialised
    as ``-U[a_init_min, a_init_max]`` and ``softplus(dt_bias)`` log-uniform in ``[dt_min, dt_max]``."""

    d_model: int
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    head_dim: int = 16
    n_groups: int = 1
    chunk_size: int = 64
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    a_init_min: float = 1.0
    a_init_max: float = 16.0

    def __post_init__(self) -> None:
        for name in (
            "d_model",
            "d_state",
            "d_conv",
            "expand",
            "head_dim",
            "n_groups",
            "chunk_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Mamba2Config.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_inner % self.head_dim:
            raise ValueError(
                f"expand*d_model ({self.d_inner}) must be a multiple of head_dim ({self.head_dim})"
            )
        if self.heads % self.n_groups:
            raise ValueError(
                f"heads ({self.heads}) must be a multiple of n_groups ({self.n_groups})"
            )

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def heads(self) -> int:
        return self.d_inner // self.head_dim

    @property
    def conv_dim(self) -> int:
        return self.d_inner + 2 * self.n_groups * self.d_state


class Mamba2(nn.Module):
    """One Mamba-2 block mapping ``(batch, length, d_model)`` to the same shape."""

    def __init__(self, config: Mamba2Config, *, generator: torch.Generator | None = None):
        super().__init__()
        c = self.config = config
        self.in_proj = nn.Linear(
            c.d_model, 2 * c.d_inner + 2 * c.n_groups * c.d_state + c.heads, bias=False
        )
        self.conv1d = nn.Conv1d(c.conv_dim, c.conv_dim, c.d_conv, groups=c.conv_dim)
        a = torch.empty(c.heads).uniform_(c.a_init_min, c.a_init_max, generator=generator)
        self.A_log = nn.Parameter(torch.log(a))
        self.dt_bias = nn.Parameter(dt_bias_init(c.heads, c.dt_min, c.dt_max, 1e-4, generator))
        self.D = nn.Parameter(torch.ones(c.heads))
        self.norm_weight = nn.Parameter(torch.ones(c.d_inner))
        self.out_proj = nn.Linear(c.d_inner, c.d_model, bias=False)

    def empty_state(self, batch: int, device=None, dtype=torch.float32) -> MambaState:
        """Zero caches: conv ``(batch, conv_dim, d_conv - 1)`` in ``dtype`` (the activations'),
        SSM ``(batch, heads, head_dim, d_state)`` in at least float32 (``ssm_core.precision``)."""
        c = self.config
        return MambaState(
            torch.zeros(batch, c.conv_dim, c.d_conv - 1, device=device, dtype=dtype),
            torch.zeros(
                batch,
                c.heads,
                c.head_dim,
                c.d_state,
                device=device,
                dtype=torch.promote_types(dtype, torch.float32),
            ),
        )

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.config
        return x.split([c.d_inner, c.conv_dim, c.heads], dim=-1)  # z, xBC, dt

    def _heads(self, xbc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Split the conv output ``(..., conv_dim)`` into x ``(..., H, P)``, B, C ``(..., G, N)``."""
        c = self.config
        x, B, C = xbc.split([c.d_inner, c.n_groups * c.d_state, c.n_groups * c.d_state], dim=-1)
        lead = x.shape[:-1]
        return (
            x.reshape(*lead, c.heads, c.head_dim),
            B.reshape(*lead, c.n_groups, c.d_state),
            C.reshape(*lead, c.n_groups, c.d_state),
        )

    def _A(self) -> Tensor:
        return -torch.exp(self.A_log.to(torch.promote_types(self.A_log.dtype, torch.float32)))

    def _out(self, y: Tensor, z: Tensor) -> Tensor:
        """Gated RMS norm in at least float32, then ``out_proj`` in ``z``'s dtype."""
        y, z_, w = upcast(compute_dtype(y, z), y, z, self.norm_weight)
        g = y * F.silu(z_)
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + 1e-5) * w
        return self.out_proj(g.to(z.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_state(x, None)[0]

    def forward_with_state(self, u: Tensor, state: MambaState | None) -> tuple[Tensor, MambaState]:
        """Forward ``u`` ``(batch, length, d_model)`` from ``state`` (``None``: zeros)."""
        c = self.config
        if u.ndim != 3 or u.shape[-1] != c.d_model:
            raise ValueError(f"input must be (batch, length, {c.d_model}), got {tuple(u.shape)}")
        batch, length = u.shape[:2]
        state = self.empty_state(batch, u.device, u.dtype) if state is None else state
        self._check_state(state, batch)
        z, xbc, dt = self._split(self.in_proj(u))
        seq = torch.cat([state.conv, xbc.transpose(1, 2)], dim=2)
        new_conv = seq[:, :, seq.shape[2] - (c.d_conv - 1) :]
        xbc = F.silu(self.conv1d(seq)).transpose(1, 2)
        x, B, C = self._heads(xbc)
        x, B, C, dt = upcast(compute_dtype(x, state.ssm), x, B, C, dt)
        dt = F.softplus(dt + self.dt_bias)
        r = ssd(x, dt, self._A(), B, C, initial_state=state.ssm, chunk_size=c.chunk_size)
        y = r.y + x * self.D[:, None]
        return self._out(y.reshape(batch, length, c.d_inner), z), MambaState(
            new_conv, r.final_state
        )

    def step(self, u: Tensor, state: MambaState) -> tuple[Tensor, MambaState]:
        """One token ``(batch, d_model)`` → output ``(batch, d_model)`` and new state."""
        c = self.config
        if u.ndim != 2 or u.shape[-1] != c.d_model:
            raise ValueError(f"step takes one token (batch, {c.d_model}), got {tuple(u.shape)}")
        self._check_state(state, u.shape[0])
        z, xbc, dt = self._split(self.in_proj(u))
        window = torch.cat([state.conv, xbc[:, :, None]], dim=2)
        xbc = F.silu((window * self.conv1d.weight[:, 0]).sum(-1) + self.conv1d.bias)
        x, B, C = self._heads(xbc)  # (b, H, P), (b, G, N)
        rep = c.heads // c.n_groups
        B, C = B.repeat_interleave(rep, 1), C.repeat_interleave(rep, 1)
        x, B, C, dt = upcast(compute_dtype(x, state.ssm), x, B, C, dt)
        dt = F.softplus(dt + self.dt_bias)  # (b, H)
        decay = torch.exp(dt * self._A())[..., None, None]
        h = decay * state.ssm + (x * dt[..., None])[..., None] * B[:, :, None, :]
        y = (h @ C[..., None]).squeeze(-1) + x * self.D[:, None]
        return self._out(y.reshape(u.shape[0], c.d_inner), z), MambaState(window[:, :, 1:], h)

    def _check_state(self, state: MambaState, batch: int) -> None:
        c = self.config
        want = {
            "conv": (batch, c.conv_dim, c.d_conv - 1),
            "ssm": (batch, c.heads, c.head_dim, c.d_state),
        }
        for name, shape in want.items():
            got = tuple(getattr(state, name).shape)
            if got != shape:
                raise ValueError(
                    f"Mamba-2 state.{name} must have shape {shape} for this block, got {got}"
                )


__all__ = ["Mamba2", "Mamba2Config"]
