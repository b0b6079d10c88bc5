"""Factorized replacement for ``nn.Linear``: y = x V Uᵀ + b, i.e. W ≈ U Vᵀ."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def break_even_rank(out_features: int, in_features: int) -> float:
    """r* = m·n/(m+n): a rank-r factorization of an m×n matrix saves parameters iff r < r*."""
    return out_features * in_features / (out_features + in_features)


def saves_parameters(out_features: int, in_features: int, rank: int) -> bool:
    """True when ``rank·(m+n) < m·n`` (the factorized layer is strictly smaller)."""
    return 0 < rank and rank * (out_features + in_features) < out_features * in_features


class LowRankLinear(nn.Module):
    """``nn.Linear`` with weight U Vᵀ (U: out×rank, V: in×rank), bias kept.

    Stored as ``U`` (out_features, rank) and ``V`` (in_features, rank) parameters; the forward
    is one matmul and one ``F.linear``, so it is ``torch.compile``-friendly. Input (..., in),
    output (..., out), like ``nn.Linear``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not saves_parameters(out_features, in_features, rank):
            r_star = break_even_rank(out_features, in_features)
            raise ValueError(
                f"rank {rank} saves no parameters for a {out_features}x{in_features} weight: "
                f"use 1 <= rank < m*n/(m+n) = {r_star:.1f}, or keep the layer dense"
            )
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        kw = {"device": device, "dtype": dtype}
        self.U = nn.Parameter(torch.empty(out_features, rank, **kw))
        self.V = nn.Parameter(torch.empty(in_features, rank, **kw))
        self.bias = nn.Parameter(torch.zeros(out_features, **kw)) if bias else None
        nn.init.normal_(self.U, std=rank**-0.5)
        nn.init.normal_(self.V, std=in_features**-0.5)

    @classmethod
    def from_factors(
        cls, U: torch.Tensor, V: torch.Tensor, bias: torch.Tensor | None = None
    ) -> LowRankLinear:
        """Build from U (out, r) and V (in, r); dtype and device are those of ``U``."""
        if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[1]:
            raise ValueError(f"need U (out, r) and V (in, r), got {tuple(U.shape)}, {tuple(V.shape)}")
        layer = cls(V.shape[0], U.shape[0], U.shape[1], bias is not None, device=U.device,
                    dtype=U.dtype)
        with torch.no_grad():
            layer.U.copy_(U)
            layer.V.copy_(V.to(U))
            if bias is not None:
                layer.bias.copy_(bias.to(U))
        return layer

    def weight(self) -> torch.Tensor:
        """The dense equivalent U Vᵀ, shape (out, in)."""
        return self.U @ self.V.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x @ self.V, self.U, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"rank={self.rank}, bias={self.bias is not None}")
