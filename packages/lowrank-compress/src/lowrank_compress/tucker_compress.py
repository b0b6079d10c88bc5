"""Tucker-2 compression of a model's ``nn.Conv2d`` layers under one budget, data-free or refit.

Data-free: each target conv is replaced by its HOSVD+HOOI Tucker-2 factorization.
Data-aware (``refit=True``), layer by layer in module order, in the spirit of the whitened
linear refit: keep the HOOI input factor U_in, then solve in closed form, on calibration data,

    min over U_out (orthonormal), core K, bias b of  ‖Y − conv_K(U_inᵀ X̃) U_outᵀ − 1 bᵀ‖²

where X̃ are the conv's inputs in the partly compressed model and Y the original conv's outputs
on the original model's inputs. With P the unfolded patches of U_inᵀX̃ (centred, like Y, when
the conv has a bias), this is reduced-rank regression, solved exactly: the full least-squares
map B = (PᵀP)⁻¹PᵀY, U_out = top eigenvectors of Bᵀ(PᵀP)B (the fitted outputs' covariance),
core Kᵀ = B U_out and b = ȳ − U_out K p̄. For the given U_in this is optimal, so on its own
calibration objective it is never worse than the data-free factors. Only sums (Gram matrices
of patches and outputs) are accumulated, never activations.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from accelerator_utils import progress as progress_bar
from lowrank_compress.calibration import Forward, default_forward
from lowrank_compress.compress import replace_module
from lowrank_compress.tucker import Tucker2Conv2d, Tucker2Factors, tucker2_decompose


def tucker2_weight_params(out_ch: int, in_ch: int, kernel: int, rank_out: int, rank_in: int
                          ) -> int:
    """Weights of the Tucker-2 replacement (1×1, core, 1×1); ``kernel`` = kh·kw."""
    return in_ch * rank_in + rank_in * rank_out * kernel + rank_out * out_ch


def tucker2_ranks(conv: nn.Conv2d, keep: float) -> tuple[int, int] | None:
    """Largest (r_out, r_in) ∝ (out, in) whose weights are ≤ ``keep`` × the dense weights.

    ``None`` when even rank (1, 1) does not fit (the conv cannot be compressed that far).
    """
    o, i = conv.out_channels, conv.in_channels
    k = conv.kernel_size[0] * conv.kernel_size[1]
    budget = keep * o * i * k
    for r_out in range(o, 0, -1):
        r_in = max(1, min(i, round(r_out * i / o)))
        if tucker2_weight_params(o, i, k, r_out, r_in) <= budget:
            return r_out, r_in
    return None


def conv_targets(model: nn.Module) -> list[str]:
    """``groups=1`` Conv2d layers with more than one input channel, in module order."""
    return [n for n, m in model.named_modules()
            if type(m) is nn.Conv2d and m.groups == 1 and m.in_channels > 1]


@dataclass(frozen=True)
class ConvReport:
    """One target conv: ranks and weight parameters before/after (ranks None = kept dense)."""

    name: str
    rank_out: int | None
    rank_in: int | None
    params_before: int
    params_after: int


@dataclass
class ConvCompressionResult:
    """The compressed copy, its per-layer rows and the all-conv weight reduction."""

    model: nn.Module
    layers: list[ConvReport]
    conv_params_before: int
    conv_params_after: int

    @property
    def conv_reduction(self) -> float:
        """Fraction of all Conv2d weight parameters removed."""
        return 1.0 - self.conv_params_after / self.conv_params_before

    def to_dict(self) -> dict[str, Any]:
        return {"layers": [asdict(r) for r in self.layers], "conv_reduction": self.conv_reduction,
                "conv_params_before": self.conv_params_before,
                "conv_params_after": self.conv_params_after}


def _patches(conv: nn.Conv2d, z: torch.Tensor) -> torch.Tensor:
    """Unfolded patches (N·L, C·kh·kw) of ``z`` under ``conv``'s geometry."""
    cols = F.unfold(z, conv.kernel_size, dilation=conv.dilation, padding=conv.padding,
                    stride=conv.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def _refit_sums(original: nn.Module, current: nn.Module, name: str, U_in: torch.Tensor,
                batches: Sequence[Any], forward: Forward) -> dict[str, torch.Tensor]:
    """n, Σp, Σy, PᵀP, PᵀY (float64) of patches P of U_inᵀX̃ and original outputs Y."""
    conv = original.get_submodule(name)
    got: dict[str, torch.Tensor] = {}
    hooks = [conv.register_forward_hook(lambda m, i, o: got.__setitem__("y", o.detach())),
             current.get_submodule(name).register_forward_hook(
                 lambda m, i, o: got.__setitem__("x", i[0].detach()))]
    s: dict[str, torch.Tensor] = {}
    try:
        with torch.no_grad():
            for batch in batches:
                forward(original, batch)
                forward(current, batch)
                z = torch.einsum("nchw,cr->nrhw", got["x"].double(), U_in)
                p = _patches(conv, z)
                y = got["y"].double().permute(0, 2, 3, 1).reshape(-1, conv.out_channels)
                for key, val in (("n", torch.tensor(float(len(p)), dtype=torch.float64)),
                                 ("p", p.sum(0)), ("y", y.sum(0)), ("PP", p.T @ p),
                                 ("PY", p.T @ y)):
                    s[key] = val if key not in s else s[key] + val
    finally:
        for h in hooks:
            h.remove()
    if not s:
        raise ValueError(f"conv {name!r} saw no calibration input: pass calibration batches")
    return s


def refit_tucker2(conv: nn.Conv2d, U_in: torch.Tensor, rank_out: int, sums: dict,
                  damping: float = 1e-8) -> tuple[Tucker2Factors, torch.Tensor | None]:
    """Reduced-rank-regression U_out, core (and bias, if ``conv`` has one) from the sums of
    :func:`_refit_sums`; without a bias the moments are not centred."""
    n = sums["n"]
    p_mean, y_mean = sums["p"] / n, sums["y"] / n
    if conv.bias is None:
        p_mean, y_mean = torch.zeros_like(p_mean), torch.zeros_like(y_mean)
    PP = sums["PP"] / n - torch.outer(p_mean, p_mean)
    PY = sums["PY"] / n - torch.outer(p_mean, y_mean)
    PP = PP + damping * PP.diagonal().mean().clamp_min(1e-300) * torch.eye(len(PP), dtype=PP.dtype)
    B = torch.linalg.solve(PP, PY)  # (r_in·kh·kw, out): the full least-squares map
    fitted = B.T @ PY  # = Bᵀ PP B, the fitted outputs' covariance (out, out)
    U_out = torch.linalg.eigh(0.5 * (fitted + fitted.T))[1].flip(1)[:, :rank_out]
    Kt = B @ U_out  # (r_in·kh·kw, r_out)
    core = Kt.T.reshape(rank_out, U_in.shape[1], *conv.kernel_size)
    bias = None if conv.bias is None else y_mean - U_out @ (Kt.T @ p_mean)
    return Tucker2Factors(U_out, core, U_in), bias


def compress_convs(
    model: nn.Module,
    params_removed: float,
    calibration: Iterable[Any] | None = None,
    *,
    refit: bool = False,
    targets: Sequence[str] | None = None,
    forward: Forward = default_forward,
    iterations: int = 5,
    progress: bool | None = None,
) -> ConvCompressionResult:
    """Tucker-2 every target conv so that ``params_removed`` of ALL Conv2d weights go.

    Each target keeps the same fraction of its weights (ranks ∝ channels); ``refit=True``
    re-solves U_out, core and bias on ``calibration`` (batches fed as ``forward(model, batch)``)
    along the compressed path. Returns a compressed deep copy and its report.
    """
    if not 0.0 < params_removed < 1.0:
        raise ValueError(f"params_removed must lie in (0, 1), got {params_removed}")
    batches = None if calibration is None else list(calibration)
    if refit and not batches:
        raise ValueError("refit=True needs calibration batches: pass calibration=[...]")
    names = list(targets) if targets is not None else conv_targets(model)
    convs = {n: m for n, m in model.named_modules() if type(m) is nn.Conv2d}
    bad = [n for n in names if n not in convs or convs[n].groups != 1]
    if bad or not names:
        raise ValueError(f"targets must be groups=1 nn.Conv2d layers; got {bad or 'none'}")
    total = sum(m.weight.numel() for m in convs.values())
    target_total = sum(convs[n].weight.numel() for n in names)
    keep = 1.0 - params_removed * total / target_total
    if keep <= 0:
        raise ValueError(f"removing {params_removed:.0%} of all conv weights needs more than the "
                         "targets hold: lower params_removed")
    out = copy.deepcopy(model)
    rows = []
    for name in progress_bar(names, desc="tucker-2", enabled=progress):
        conv = convs[name]
        ranks = tucker2_ranks(conv, keep)
        if ranks is None:
            raise ValueError(f"conv {name!r} cannot keep only {keep:.0%} of its weights")
        factors = tucker2_decompose(conv.weight, *ranks, iterations=iterations)
        bias = None
        if refit:
            sums = _refit_sums(model, out, name, factors.U_in, batches, forward)
            factors, bias = refit_tucker2(conv, factors.U_in, ranks[0], sums)
        layer = Tucker2Conv2d(conv, _cast(factors, conv.weight))
        if bias is not None:
            with torch.no_grad():
                layer[2].bias.copy_(bias)
        replace_module(out, name, layer)
        k = conv.kernel_size[0] * conv.kernel_size[1]
        rows.append(ConvReport(name, *ranks, conv.weight.numel(), tucker2_weight_params(
            conv.out_channels, conv.in_channels, k, *ranks)))
    after = total - sum(r.params_before - r.params_after for r in rows)
    return ConvCompressionResult(out, rows, total, after)


def _cast(f: Tucker2Factors, like: torch.Tensor) -> Tucker2Factors:
    return Tucker2Factors(f.U_out.to(like), f.core.to(like), f.U_in.to(like))
