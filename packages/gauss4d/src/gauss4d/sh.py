"""Real spherical harmonics up to degree 3 and the 3D-GS colour mapping ``max(SH(d) + 0.5, 0)``.

Basis order and signs follow the convention shared by 3D-GS and gsplat (coefficient k of degree l
is index ``l * l + k``), so coefficients trained elsewhere evaluate identically.
"""

from __future__ import annotations

import torch
from torch import Tensor

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def num_coeffs(degree: int) -> int:
    """Number of SH coefficients per channel for ``degree`` (0..3)."""
    if degree not in (0, 1, 2, 3):
        raise ValueError(f"SH degree must be 0, 1, 2 or 3, got {degree}")
    return (degree + 1) ** 2


def degree_of(n_coeffs: int) -> int:
    """SH degree from the number of coefficients (1, 4, 9 or 16)."""
    for d in range(4):
        if (d + 1) ** 2 == n_coeffs:
            return d
    raise ValueError(f"SH coefficient count must be 1, 4, 9 or 16, got {n_coeffs}")


def sh_basis(dirs: Tensor, degree: int) -> Tensor:
    """(N, (degree+1)^2) real SH basis at unit directions ``dirs`` (N, 3)."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, C0)]
    if degree > 0:
        out += [-C1 * y, C1 * z, -C1 * x]
    if degree > 1:
        xx, yy, zz = x * x, y * y, z * z
        out += [
            C2[0] * x * y,
            C2[1] * y * z,
            C2[2] * (2 * zz - xx - yy),
            C2[3] * x * z,
            C2[4] * (xx - yy),
        ]
    if degree > 2:
        out += [
            C3[0] * y * (3 * xx - yy),
            C3[1] * x * y * z,
            C3[2] * y * (4 * zz - xx - yy),
            C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            C3[4] * x * (4 * zz - xx - yy),
            C3[5] * z * (xx - yy),
            C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


def sh_to_color(sh: Tensor, dirs: Tensor, degree: int | None = None) -> Tensor:
    """(N, 3) colours ``max(sum_k sh[:, k] * Y_k(dir) + 0.5, 0)``.

    sh: (N, K, 3) coefficients, K = (d+1)^2. dirs: (N, 3) unit viewing directions (camera to
    Gaussian). ``degree`` may be lower than the stored one (progressive SH training).
    """
    stored = degree_of(sh.shape[1])
    degree = stored if degree is None else min(degree, stored)
    basis = sh_basis(dirs, degree)
    k = basis.shape[-1]
    return (torch.einsum("nk,nkc->nc", basis, sh[:, :k]) + 0.5).clamp(min=0.0)


def rgb_to_sh0(rgb: Tensor) -> Tensor:
    """DC coefficient that renders as ``rgb`` (inverse of the degree-0 mapping)."""
    return (rgb - 0.5) / C0
