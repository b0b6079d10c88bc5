"""The Mamba block (Gu & Dao 2023): in_proj, causal depthwise conv1d, SiLU, selective SSM,
SiLU gate, out_proj; with a full-sequence forward, a stateful chunked forward and one-token
steps that share conv and SSM state caches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssm_core.precision import compute_dtype, upcast
from ssm_core.selective_scan import selective_scan


@dataclass(frozen=True)
class MambaConfig:
    """Sizes and initialisation of a Mamba block.

    ``d_inner = expand * d_model``; ``dt_rank`` defaults to ``ceil(d_model / 16)``; the time step
    ``softplus(dt_bias)`` is initialised log-uniform in ``[dt_min, dt_max]``.
    """

    d_model: int
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | None = None
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_init_floor: float = 1e-4
    engine: str = "chunked"
    chunk_size: int | None = None  # None: auto_chunk_size

    def __post_init__(self) -> None:
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"MambaConfig.chunk_size must be >= 1 or None, got {self.chunk_size}")
        for name in ("d_model", "d_state", "d_conv", "expand"):
            if getattr(self, name) < 1:
                raise ValueError(f"MambaConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def rank(self) -> int:
        return self.dt_rank or math.ceil(self.d_model / 16)


@dataclass
class MambaState:
    """Inference caches: the last ``d_conv - 1`` conv inputs ``(batch, d_inner, d_conv - 1)``
    and the SSM state ``(batch, d_inner, d_state)``."""

    conv: Tensor
    ssm: Tensor


def dt_bias_init(d: int, dt_min: float, dt_max: float, floor: float, generator=None) -> Tensor:
    """Bias whose softplus is log-uniform in ``[dt_min, dt_max]`` (inverse softplus of dt)."""
    u = torch.rand(d, generator=generator)
    dt = torch.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


class Mamba(nn.Module):
    """One Mamba block mapping ``(batch, length, d_model)`` to the same shape."""

    def __init__(self, config: MambaConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        c = self.config = config
        di, n = c.d_inner, c.d_state
        self.in_proj = nn.Linear(c.d_model, 2 * di, bias=False)
        self.conv1d = nn.Conv1d(di, di, c.d_conv, groups=di, padding=0)
        self.x_proj = nn.Linear(di, c.rank + 2 * n, bias=False)
        self.dt_proj = nn.Linear(c.rank, di, bias=True)
        self.out_proj = nn.Linear(di, c.d_model, bias=False)
        self.A_log = nn.Parameter(
            torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(di, 1)
        )
        self.D = nn.Parameter(torch.ones(di))
        with torch.no_grad():
            std = c.rank**-0.5
            self.dt_proj.weight.uniform_(-std, std, generator=generator)
            self.dt_proj.bias.copy_(
                dt_bias_init(di, c.dt_min, c.dt_max, c.dt_init_floor, generator)
            )

    def empty_state(self, batch: int, device=None, dtype=torch.float32) -> MambaState:
        """Zero caches: conv ``(batch, d_inner, d_conv - 1)`` in ``dtype`` (the activations'),
        SSM ``(batch, d_inner, d_state)`` in at least float32 (``ssm_core.precision``)."""
        c = self.config
        return MambaState(
            torch.zeros(batch, c.d_inner, c.d_conv - 1, device=device, dtype=dtype),
            torch.zeros(
                batch,
                c.d_inner,
                c.d_state,
                device=device,
                dtype=torch.promote_types(dtype, torch.float32),
            ),
        )

    def _ssm_params(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``delta`` (pre-softplus), ``A``, ``B``, ``C`` from the conv output ``x`` ``(b, l, di)``."""
        n, r = self.config.d_state, self.config.rank
        dt, B, C = self.x_proj(x).split([r, n, n], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight)  # bias is added inside the scan
        A = -torch.exp(self.A_log.to(torch.promote_types(self.A_log.dtype, torch.float32)))
        return delta, A, B, C

    def forward(self, x: Tensor) -> Tensor:
        """Full-sequence forward from zero state; ``x`` ``(batch, length, d_model)``."""
        return self.forward_with_state(x, None)[0]

    def forward_with_state(self, x: Tensor, state: MambaState | None) -> tuple[Tensor, MambaState]:
        """Forward continuing from ``state`` (``None``: zeros); returns output and new state.

        Splitting a sequence into pieces and chaining the state gives the same output as one
        call on the whole (chunked prefill, streaming).
        """
        if x.ndim != 3 or x.shape[-1] != self.config.d_model:
            raise ValueError(
                f"x must be (batch, length, {self.config.d_model}), got {tuple(x.shape)}"
            )
        batch = x.shape[0]
        if state is None:
            state = self.empty_state(batch, x.device, x.dtype)
        self._check_state(state, batch)
        xz = self.in_proj(x)
        xs, z = xz.chunk(2, dim=-1)
        xs_t = torch.cat([state.conv, xs.transpose(1, 2)], dim=2)  # (b, di, k-1+l)
        new_conv = xs_t[:, :, xs_t.shape[2] - (self.config.d_conv - 1) :]
        xc = F.silu(self.conv1d(xs_t)).transpose(1, 2)  # (b, l, di)
        delta, A, B, C = self._ssm_params(xc)
        res = selective_scan(
            xc,
            delta,
            A,
            B,
            C,
            self.D,
            z,
            delta_bias=self.dt_proj.bias,
            delta_softplus=True,
            initial_state=state.ssm,
            engine=self.config.engine,
            chunk_size=self.config.chunk_size,
        )
        return self.out_proj(res.y), MambaState(new_conv, res.final_state)

    def step(self, x: Tensor, state: MambaState) -> tuple[Tensor, MambaState]:
        """One token ``x`` ``(batch, d_model)`` → output ``(batch, d_model)`` and new state."""
        if x.ndim != 2 or x.shape[-1] != self.config.d_model:
            raise ValueError(
                f"step takes one token (batch, {self.config.d_model}), got {tuple(x.shape)}"
            )
        self._check_state(state, x.shape[0])
        xs, z = self.in_proj(x).chunk(2, dim=-1)
        window = torch.cat([state.conv, xs[:, :, None]], dim=2)  # (b, di, k)
        xc = F.silu((window * self.conv1d.weight[:, 0]).sum(-1) + self.conv1d.bias)
        delta, A, B, C = self._ssm_params(xc)
        work = compute_dtype(xc, state.ssm, A)
        xw, delta, B, C, z, D, bias = upcast(work, xc, delta, B, C, z, self.D, self.dt_proj.bias)
        delta = F.softplus(delta + bias)
        h = torch.exp(delta[..., None] * A) * state.ssm + (delta * xw)[..., None] * B[:, None, :]
        y = ((h @ C[..., None]).squeeze(-1) + D * xw) * F.silu(z)
        return self.out_proj(y.to(xc.dtype)), MambaState(window[:, :, 1:], h)

    def _check_state(self, state: MambaState, batch: int) -> None:
        c = self.config
        want = {"conv": (batch, c.d_inner, c.d_conv - 1), "ssm": (batch, c.d_inner, c.d_state)}
        for name, shape in want.items():
            got = tuple(getattr(state, name).shape)
            if got != shape:
                raise ValueError(
                    f"MambaState.{name} must have shape {shape} for this block, got {got}"
                )
