"""Tucker-2 factorization of ``nn.Conv2d``: 1×1 (in→r_in) → k×k core (r_in→r_out) → 1×1 (r_out→out).

The kernel W (out, in, kh, kw) is approximated as core ×₀ U_out ×₁ U_in with orthonormal
U_out (out, r_out), U_in (in, r_in) from a truncated HOSVD refined by HOOI sweeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Tucker2Factors:
    """U_out (out, r_out), core (r_out, r_in, kh, kw), U_in (in, r_in)."""

    U_out: torch.Tensor
    core: torch.Tensor
    U_in: torch.Tensor

    def reconstruct(self) -> torch.Tensor:
        """The dense kernel (out, in, kh, kw)."""
        return torch.einsum("oa,abhw,ib->oihw", self.U_out, self.core, self.U_in)


def _leading_left_vectors(mat: torch.Tensor, rank: int) -> torch.Tensor:
    U, _, _ = torch.linalg.svd(mat, full_matrices=False)
    return U[:, :rank]


def tucker2_decompose(
    weight: torch.Tensor, rank_out: int, rank_in: int, *, iterations: int = 5
) -> Tucker2Factors:
    """Tucker-2 of a conv kernel (out, in, kh, kw) by HOSVD + ``iterations`` HOOI sweeps (float64)."""
    if weight.ndim != 4:
        raise ValueError(f"need a conv kernel (out, in, kh, kw), got shape {tuple(weight.shape)}")
    o, i = weight.shape[:2]
    if not (1 <= rank_out <= o and 1 <= rank_in <= i):
        raise ValueError(f"ranks ({rank_out}, {rank_in}) must lie in [1, {o}] x [1, {i}]")
    W = weight.detach().double()
    U_in = _leading_left_vectors(W.transpose(0, 1).reshape(i, -1), rank_in)
    U_out = _leading_left_vectors(W.reshape(o, -1), rank_out)
    for _ in range(iterations):
        U_out = _leading_left_vectors(torch.einsum("oihw,ib->obhw", W, U_in).reshape(o, -1),
                                      rank_out)
        U_in = _leading_left_vectors(
            torch.einsum("oihw,oa->iahw", W, U_out).reshape(i, -1), rank_in)
    core = torch.einsum("oihw,oa,ib->abhw", W, U_out, U_in)
    return Tucker2Factors(U_out, core, U_in)


def tucker2_parameters(conv: nn.Conv2d, rank_out: int, rank_in: int) -> int:
    """Parameter count of the Tucker-2 replacement of ``conv`` (bias included)."""
    kh, kw = conv.kernel_size
    bias = conv.out_channels if conv.bias is not None else 0
    return (conv.in_channels * rank_in + rank_in * rank_out * kh * kw
            + rank_out * conv.out_channels + bias)


class Tucker2Conv2d(nn.Sequential):
    """Drop-in for a ``groups=1`` ``nn.Conv2d``: same stride, padding, dilation, bias, shapes."""

    def __init__(self, conv: nn.Conv2d, factors: Tucker2Factors) -> None:
        if conv.groups != 1:
            raise ValueError(f"Tucker-2 needs groups=1, got groups={conv.groups}")
        if isinstance(conv.padding, str) and conv.padding != "valid":
            raise ValueError(f"padding={conv.padding!r} is not supported; give explicit padding")
        r_out, r_in = factors.core.shape[:2]
        kw = {"device": conv.weight.device, "dtype": conv.weight.dtype}
        first = nn.Conv2d(conv.in_channels, r_in, 1, bias=False, **kw)
        core = nn.Conv2d(r_in, r_out, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                         dilation=conv.dilation, bias=False, padding_mode=conv.padding_mode, **kw)
        last = nn.Conv2d(r_out, conv.out_channels, 1, bias=conv.bias is not None, **kw)
        with torch.no_grad():
            first.weight.copy_(factors.U_in.T[:, :, None, None])
            core.weight.copy_(factors.core)
            last.weight.copy_(factors.U_out[:, :, None, None])
            if conv.bias is not None:
                last.bias.copy_(conv.bias)
        super().__init__(first, core, last)
        self.rank_out, self.rank_in = int(r_out), int(r_in)


def tucker2_conv(conv: nn.Conv2d, rank_out: int, rank_in: int, *, iterations: int = 5
                 ) -> Tucker2Conv2d:
    """Replace ``conv`` by its Tucker-2 factorization with ranks (rank_out, rank_in)."""
    return Tucker2Conv2d(conv, tucker2_decompose(conv.weight, rank_out, rank_in,
                                                 iterations=iterations))
