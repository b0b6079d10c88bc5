"""S4 (Gu et al. 2022): diagonal-plus-low-rank state matrix, kernel by the Cauchy formula.

The state matrix is ``A = diag(Lambda) - P P^*`` (the HiPPO-LegS NPLR form in the eigenbasis of
its normal part, keeping the ``N/2`` modes with positive frequency), discretised by the bilinear
rule. The convolution kernel ``k_l = C^* dA^l dB`` is obtained from its truncated generating
function at the ``L`` roots of unity, where ``(I - dA z)^{-1} dB`` reduces, by Woodbury, to four
Cauchy sums ``sum_n a_n b_n / ((2/dt)(1 - z) - (1 + z) lambda_n)``; an inverse FFT returns ``k``.
The layer output is ``y = 2 Re(k * u) + D u``; the recurrent mode steps the same system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ssm_core.hippo import hippo
from ssm_core.s4d import fft_conv


@dataclass(frozen=True)
class S4Config:
    """``channels`` H, state size N (``N/2`` complex modes), timescale range for ``log dt``."""

    channels: int
    d_state: int = 64
    dt_min: float = 1e-3
    dt_max: float = 1e-1

    def __post_init__(self) -> None:
        if self.channels < 1 or self.d_state < 2 or self.d_state % 2:
            raise ValueError(
                f"need channels >= 1 and an even d_state >= 2, got {self.channels}, {self.d_state}"
            )
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")


def dplr_legs(N: int) -> tuple[Tensor, Tensor, Tensor]:
    """``Lambda``, ``P``, ``B`` ``(N/2,)`` complex128: HiPPO-LegS in the eigenbasis of its normal
    part, positive-frequency half (the other half are complex conjugates)."""
    op = hippo("legs", N)
    lam, V = torch.linalg.eig(op.S)  # S normal: V unitary
    keep = lam.imag.argsort(descending=True)[: N // 2]
    Vh = V[:, keep].conj().T
    return lam[keep], Vh @ op.P[:, 0].to(V.dtype), Vh @ op.B.to(V.dtype)


def cauchy_kernel(
    lam: Tensor, P: Tensor, B: Tensor, C_tilde: Tensor, dt: Tensor, length: int
) -> Tensor:
    """Complex kernel ``k`` ``(H, length)`` of ``A = diag(lam) - P P^*`` (bilinear, step ``dt``).

    ``C_tilde = (I - dA^L)^* C`` already folds in the truncation to ``length``. Shapes: ``lam``,
    ``P``, ``B``, ``C_tilde`` ``(H, n)``; ``dt`` ``(H,)``.
    """
    pos = torch.arange(length, device=lam.device, dtype=lam.real.dtype)
    z = torch.exp(-2j * math.pi * pos / length)  # roots of unity
    denom = (2 / dt)[:, None, None] * (1 - z)[None, :, None] - (1 + z)[None, :, None] * lam[
        :, None, :
    ]
    r = 1 / denom  # (H, L, n): the Cauchy matrix
    Cc, Pc = C_tilde.conj(), P.conj()
    c_rb, c_rp = (r * (Cc * B)[:, None]).sum(-1), (r * (Cc * P)[:, None]).sum(-1)
    q_rb, q_rp = (r * (Pc * B)[:, None]).sum(-1), (r * (Pc * P)[:, None]).sum(-1)
    onez = (1 + z)[None]
    k_hat = 2 * (c_rb - onez * c_rp * q_rb / (1 + onez * q_rp))
    return torch.fft.ifft(k_hat, n=length)


class S4(nn.Module):
    """S4 layer ``(batch, length, channels) -> (batch, length, channels)``."""

    def __init__(self, config: S4Config, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = c = config
        lam, P, B = dplr_legs(c.d_state)
        H = c.channels
        self.log_lam_real = nn.Parameter(torch.log(-lam.real).float().repeat(H, 1))
        self.lam_imag = nn.Parameter(lam.imag.float().repeat(H, 1))
        self.P = nn.Parameter(torch.view_as_real(P.to(torch.complex64)).repeat(H, 1, 1))
        self.B = nn.Parameter(torch.view_as_real(B.to(torch.complex64)).repeat(H, 1, 1))
        self.C = nn.Parameter(
            torch.randn(H, c.d_state // 2, 2, generator=generator) * math.sqrt(0.5)
        )
        u = torch.rand(H, generator=generator)
        self.log_dt = nn.Parameter(
            u * (math.log(c.dt_max) - math.log(c.dt_min)) + math.log(c.dt_min)
        )
        self.D = nn.Parameter(torch.randn(H, generator=generator))

    def _params(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        lam = torch.complex(-torch.exp(self.log_lam_real), self.lam_imag)
        as_c = lambda t: torch.view_as_complex(t.contiguous())  # noqa: E731
        return lam, as_c(self.P), as_c(self.B), as_c(self.C), torch.exp(self.log_dt)

    def dense(self) -> tuple[Tensor, Tensor, Tensor]:
        """Bilinear ``dA`` ``(H, n, n)``, ``dB`` ``(H, n)`` of the dense DPLR matrix, and ``C``."""
        lam, P, B, C, dt = self._params()
        A = torch.diag_embed(lam) - P[:, :, None] * P.conj()[:, None, :]
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        lhs = eye - dt[:, None, None] / 2 * A
        dA = torch.linalg.solve(lhs, eye + dt[:, None, None] / 2 * A)
        dB = torch.linalg.solve(lhs, (dt[:, None] * B)[..., None])[..., 0]
        return dA, dB, C

    def kernel(self, length: int) -> Tensor:
        """Real kernel ``2 Re k`` ``(H, length)`` by the Cauchy formula."""
        lam, P, B, C, dt = self._params()
        dA = self.dense()[0]
        C_tilde = C - torch.einsum("hmn,hm->hn", torch.linalg.matrix_power(dA, length).conj(), C)
        return 2 * cauchy_kernel(lam, P, B, C_tilde, dt.to(lam.real.dtype), length).real

    def forward(self, u: Tensor, mode: str = "conv") -> Tensor:
        """``mode="conv"``: FFT convolution with the Cauchy kernel; ``"recurrent"``: stepping."""
        if u.ndim != 3 or u.shape[-1] != self.config.channels:
            raise ValueError(
                f"u must be (batch, length, {self.config.channels}), got {tuple(u.shape)}"
            )
        if mode == "conv":
            y = fft_conv(u, self.kernel(u.shape[1]).to(u.dtype))
        elif mode == "recurrent":
            dA, dB, C = self.dense()
            h = torch.zeros(u.shape[0], *dB.shape, dtype=dB.dtype, device=u.device)
            ys = []
            for t in range(u.shape[1]):
                h = torch.einsum("hmn,bhn->bhm", dA, h) + dB * u[:, t, :, None]
                ys.append(2 * (h * C.conj()).sum(-1).real)
            y = torch.stack(ys, 1).to(u.dtype)
        else:
            raise ValueError(f"unknown mode {mode!r}; choose 'conv' or 'recurrent'")
        return y + u * self.D


__all__ = ["S4", "S4Config", "cauchy_kernel", "dplr_legs"]
