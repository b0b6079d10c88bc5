"""``compress``: the one entry point, from a model and a parameter budget to a smaller model.

The budget is named for what it is: ``params_removed`` is the fraction of parameters removed
(0.3 = keep 70 %), of the target linear layers' weights (``scope='linear'``) or of the whole
model (``scope='model'``). The report gives both reductions whatever the scope.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from accelerator_utils import check_finite
from accelerator_utils import progress as progress_bar
from lowrank_compress.allocation import STRATEGIES, LayerShape, allocate_ranks, uniform_ranks
from lowrank_compress.calibration import (
    CalibrationStats,
    Forward,
    LayerStats,
    LossFn,
    collect_fisher,
    collect_statistics,
    default_forward,
)
from lowrank_compress.factorize import Factorization, factorize, layer_error, whitened_spectrum
from lowrank_compress.layers import LowRankLinear
from lowrank_compress.methods import METHODS
from lowrank_compress.methods.whiten import SOLVERS
from lowrank_compress.refit import refit_layers

SCOPES = ("linear", "model")


@dataclass(frozen=True)
class CompressConfig:
    """Validated settings of :func:`compress` (see its docstring)."""

    params_removed: float
    method: str = "whiten"
    allocation: str = "uniform"
    scope: str = "linear"
    rank_multiple: int = 1
    damping: float = 0.0
    solver: str = "auto"
    asvd_alpha: float = 0.5
    refit: bool = False
    sensitivity_batches: int = 16

    def __post_init__(self) -> None:
        if not 0.0 < self.params_removed < 1.0:
            raise ValueError(
                f"params_removed is the fraction of parameters to remove and must lie in (0, 1), "
                f"got {self.params_removed} (to keep 70 %, pass params_removed=0.3)"
            )
        for value, allowed, what in ((self.method, METHODS, "method"),
                                     (self.allocation, STRATEGIES, "allocation"),
                                     (self.scope, SCOPES, "scope"), (self.solver, SOLVERS, "solver")):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
        if self.rank_multiple < 1:
            raise ValueError(f"rank_multiple must be >= 1, got {self.rank_multiple}")
        if self.damping < 0:
            raise ValueError(f"damping must be >= 0, got {self.damping}")
        if self.refit and self.method != "whiten":
            raise ValueError("refit=True re-solves the whitened objective: use method='whiten'")

    @property
    def needs_calibration(self) -> bool:
        return self.method != "svd" or self.refit or self.allocation == "sensitivity"


@dataclass(frozen=True)
class LayerReport:
    """One target layer: rank (None = kept dense), weight parameters and relative errors."""

    name: str
    out_features: int
    in_features: int
    rank: int | None
    params_before: int
    params_after: int
    estimated_error: float
    measured_error: float
    solver: str


@dataclass
class CompressionReport:
    """Per-layer rows and whole-model vs linear-only parameter reductions."""

    config: CompressConfig
    layers: list[LayerReport]
    model_params_before: int
    model_params_after: int
    error_kind: str = field(default="calibration")

    @property
    def linear_params_before(self) -> int:
        return sum(r.params_before for r in self.layers)

    @property
    def linear_params_after(self) -> int:
        return sum(r.params_after for r in self.layers)

    @property
    def linear_reduction(self) -> float:
        """Fraction of the target layers' weight parameters removed."""
        return 1.0 - self.linear_params_after / self.linear_params_before

    @property
    def model_reduction(self) -> float:
        """Fraction of all model parameters removed."""
        return 1.0 - self.model_params_after / self.model_params_before

    @property
    def mean_measured_error(self) -> float:
        rows = [r.measured_error for r in self.layers if r.rank is not None]
        return float(np.mean(rows)) if rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "layers": [asdict(r) for r in self.layers],
                "model_params_before": self.model_params_before,
                "model_params_after": self.model_params_after,
                "linear_reduction": self.linear_reduction, "model_reduction": self.model_reduction,
                "error_kind": self.error_kind}

    def to_markdown(self, max_rows: int | None = None) -> str:
        c = self.config
        lines = [
            f"method={c.method} allocation={c.allocation} scope={c.scope} refit={c.refit}: "
            f"removed {self.linear_reduction:.1%} of target-linear weights, "
            f"{self.model_reduction:.1%} of the whole model "
            f"({self.model_params_before:,} -> {self.model_params_after:,} parameters)",
            "",
            f"| layer | shape | rank | params before | after | est. error | "
            f"{self.error_kind} error |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in self.layers[:max_rows]:
            lines.append(
                f"| {r.name} | {r.out_features}x{r.in_features} | "
                f"{'dense' if r.rank is None else r.rank} | {r.params_before:,} | "
                f"{r.params_after:,} | {r.estimated_error:.4f} | {r.measured_error:.4f} |"
            )
        return "\n".join(lines)


@dataclass
class CompressionResult:
    """The compressed model, its report and the calibration statistics (for reuse)."""

    model: nn.Module
    report: CompressionReport
    statistics: CalibrationStats | None = None


def linear_targets(model: nn.Module, targets: Sequence[str] | None = None) -> list[str]:
    """Names of the ``nn.Linear`` layers to compress (all of them by default), in module order."""
    modules = dict(model.named_modules())
    if targets is None:
        names = [n for n, m in modules.items() if type(m) is nn.Linear]
    else:
        names = list(targets)
        for n in names:
            if n not in modules:
                raise ValueError(f"no module named {n!r} in the model")
            if type(modules[n]) is not nn.Linear:
                raise ValueError(
                    f"layer {n!r} is a {type(modules[n]).__name__}, not nn.Linear: it cannot be "
                    "factorized by compress (use tucker2_conv for Conv2d)"
                )
    if not names:
        raise ValueError("the model has no nn.Linear layer to compress")
    return names


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Set the submodule at dotted path ``name`` to ``new``."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def _to_layer(linear: nn.Linear, fac: Factorization) -> LowRankLinear:
    w = linear.weight
    return LowRankLinear.from_factors(fac.U.to(w), fac.V.to(w), linear.bias)


def _output_error(model: nn.Module, reference: list[torch.Tensor], batches: Sequence[Any],
                  forward: Forward) -> float:
    """Mean relative squared error of ``model``'s outputs against ``reference`` outputs."""
    errs = []
    with torch.no_grad():
        for ref, batch in zip(reference, batches):
            out = forward(model, batch).double()
            errs.append(float((out - ref).square().sum() / ref.square().sum().clamp_min(1e-300)))
    return float(np.mean(errs))


def _sensitivity_costs(
    model: nn.Module,
    shapes: list[LayerShape],
    stats: dict[str, LayerStats],
    fisher: dict[str, torch.Tensor],
    cfg: CompressConfig,
    batches: Sequence[Any],
    forward: Forward,
    progress: bool | None,
) -> dict[str, np.ndarray]:
    """Measured cost curves: the relative model-output error with one layer factorized at four
    allowed ranks, interpolated linearly over ranks 0..min(m, n) (0 at full rank)."""
    with torch.no_grad():
        reference = [forward(model, b).double() for b in batches]
    modules = dict(model.named_modules())
    costs = {}
    for shape in progress_bar(shapes, desc="sensitivity", enabled=progress):
        name = shape.name
        layer = modules[name]
        allowed = shape.allowed_ranks(cfg.rank_multiple)
        probes = np.unique(allowed[np.linspace(0, allowed.size - 1, 4).round().astype(int)])
        measured = []
        for r in probes:
            fac = _factorize(cfg, layer.weight, int(r), stats.get(name), fisher.get(name))
            replace_module(model, name, _to_layer(layer, fac))
            measured.append(_output_error(model, reference, batches, forward))
        replace_module(model, name, layer)
        full = min(shape.out_features, shape.in_features)
        grid = np.arange(full + 1)
        costs[name] = np.interp(grid, np.append(probes, full), np.append(measured, 0.0))
    return costs


def _sensitivity_weights(
    model: nn.Module,
    shapes: list[LayerShape],
    stats: dict[str, LayerStats],
    fisher: dict[str, torch.Tensor],
    cfg: CompressConfig,
    batches: Sequence[Any],
    forward: Forward,
    progress: bool | None,
) -> dict[str, float]:
    """w_ℓ = (model-output error with layer ℓ alone factorized at its uniform rank) / (its
    relative calibration error there): output error per unit of relative layer error, the
    first-order weight that makes layers' errors comparable for ``greedy``."""
    with torch.no_grad():
        reference = [forward(model, b).double() for b in batches]
    total = sum(s.dense_params for s in shapes)
    probe = uniform_ranks(shapes, _budget(cfg, model, shapes) / total,
                          cfg.rank_multiple)
    modules = dict(model.named_modules())
    weights = {}
    for shape in progress_bar(shapes, desc="sensitivity weights", enabled=progress):
        name, layer = shape.name, modules[shape.name]
        rank = probe[name] or int(shape.allowed_ranks(cfg.rank_multiple)[-1])
        fac = _factorize(cfg, layer.weight, rank, stats.get(name), fisher.get(name))
        relative = layer_error(layer.weight, fac.weight(), stats[name].gram if stats else None)
        replace_module(model, name, _to_layer(layer, fac))
        try:
            measured = _output_error(model, reference, batches, forward)
        finally:
            replace_module(model, name, layer)
        weights[name] = measured / max(relative, 1e-12)
    return weights


def _factorize(cfg: CompressConfig, weight, rank, stats, row_fisher) -> Factorization:
    return factorize(cfg.method, weight, rank, stats, row_fisher, damping=cfg.damping,
                     solver=cfg.solver, asvd_alpha=cfg.asvd_alpha)


def _statistics(model, names, batches, given, cfg, forward, loss_fn, fisher_batches,
                progress) -> CalibrationStats | None:
    """Collect (or reuse) the calibration statistics the configuration needs."""
    if given is not None:
        missing = [n for n in names if n not in given.layers]
        if missing:
            raise ValueError(f"the given statistics lack layers {missing[:3]}...: recollect them")
    elif batches:
        given = CalibrationStats(collect_statistics(model, batches, names, forward=forward,
                                                    progress=progress))
    else:
        return None
    if cfg.method == "fwsvd" and given.row_fisher is None:
        given.row_fisher = collect_fisher(model, list(fisher_batches or batches), names, loss_fn,
                                          progress=progress)
    return given


def _budget(cfg: CompressConfig, model: nn.Module, shapes: list[LayerShape]) -> int:
    linear = sum(s.dense_params for s in shapes)
    if cfg.scope == "linear":
        return int(np.ceil(cfg.params_removed * linear))
    target = int(np.ceil(cfg.params_removed * sum(p.numel() for p in model.parameters())))
    if target >= linear:
        raise ValueError(
            f"removing {cfg.params_removed:.0%} of the whole model ({target:,} parameters) is more "
            f"than the target linear layers hold ({linear:,}): lower params_removed"
        )
    return target


def compress(
    model: nn.Module,
    params_removed: float,
    method: str = "whiten",
    calibration: Iterable[Any] | None = None,
    *,
    allocation: str = "uniform",
    scope: str = "linear",
    rank_multiple: int = 1,
    damping: float = 0.0,
    solver: str = "auto",
    asvd_alpha: float = 0.5,
    refit: bool = False,
    targets: Sequence[str] | None = None,
    forward: Forward = default_forward,
    loss_fn: LossFn | None = None,
    fisher_batches: Iterable[Any] | None = None,
    statistics: CalibrationStats | None = None,
    inplace: bool = False,
    progress: bool | None = None,
) -> CompressionResult:
    """Replace the target ``nn.Linear`` layers of ``model`` by :class:`LowRankLinear` layers.

    params_removed: fraction of parameters to remove, in (0, 1), of the target linear weights
        (``scope='linear'``) or of the whole model (``scope='model'``).
    method: ``svd`` (data-free), ``asvd`` (needs ``calibration``), ``fwsvd`` (needs
        ``calibration`` and ``loss_fn(model, batch) -> scalar``, run on ``fisher_batches`` or
        the calibration batches), ``whiten`` (SVD-LLM; needs ``calibration``).
    calibration: batches fed as ``forward(model, batch)``; a re-iterable sequence (a list).
    allocation: ``uniform``, ``energy``, ``greedy`` (on whitened spectra, each layer's relative
        tail energy weighted by its measured output sensitivity when calibration batches are
        given; plain singular values, unweighted, without) or ``sensitivity`` (measured cost
        curves; needs calibration).
    rank_multiple: ranks are multiples of this (8 suits matmul kernels); layers where no such
        rank saves parameters stay dense.
    damping, solver: whitening knobs (see :mod:`lowrank_compress.methods.whiten`).
    refit: re-solve each layer on the compressed path's inputs (method='whiten' only).
    statistics: a previous result's ``statistics`` for the same model and calibration, to skip
        re-collecting them (the calibration batches are still needed for refit/sensitivity
        and for greedy's sensitivity weights).
    progress: progress bars (calibration, sensitivity, factorization); None shows them only
        on a terminal outside CI. No randomness is involved, so there is no seed.

    Returns the compressed model (a deep copy unless ``inplace``) and a per-layer report whose
    errors are relative calibration errors ‖X(W−Ŵ)ᵀ‖²/‖XWᵀ‖² (weight errors without calibration).
    """
    cfg = CompressConfig(params_removed, method, allocation, scope, rank_multiple, damping,
                         solver, asvd_alpha, refit)
    batches = None if calibration is None else list(calibration)
    needs_batches = cfg.refit or cfg.allocation == "sensitivity" or (
        statistics is None and cfg.needs_calibration)
    if needs_batches and not batches:
        raise ValueError(
            f"method={cfg.method!r} with allocation={cfg.allocation!r}"
            f"{' and refit' if cfg.refit else ''} needs calibration batches: pass calibration=[...]"
        )
    if cfg.method == "fwsvd" and loss_fn is None:
        raise ValueError("method='fwsvd' needs loss_fn(model, batch) -> scalar task loss")
    names = linear_targets(model, targets)
    modules = dict(model.named_modules())
    for n in names:
        check_finite(modules[n].weight, f"weight of layer {n!r}")
    shapes = [LayerShape(n, *modules[n].weight.shape) for n in names]
    params_before = sum(p.numel() for p in model.parameters())

    statistics = _statistics(model, names, batches, statistics, cfg, forward, loss_fn,
                             fisher_batches, progress)
    stats: dict[str, LayerStats] = {} if statistics is None else statistics.layers
    fisher: dict[str, torch.Tensor] = (statistics.row_fisher or {}) if statistics else {}

    spectra, costs, weights = None, None, None
    if cfg.allocation in ("energy", "greedy"):
        spectra = {n: whitened_spectrum(modules[n].weight, stats[n].gram if stats else None,
                                        cfg.damping).numpy() for n in names}
    if cfg.allocation == "greedy" and batches:
        weights = _sensitivity_weights(model, shapes, stats, fisher, cfg,
                                       batches[: cfg.sensitivity_batches], forward, progress)
    if cfg.allocation == "sensitivity":
        costs = _sensitivity_costs(model, shapes, stats, fisher, cfg,
                                   batches[: cfg.sensitivity_batches], forward, progress)
    ranks = allocate_ranks(shapes, _budget(cfg, model, shapes), cfg.allocation, spectra=spectra,
                           costs=costs, weights=weights, multiple_of=cfg.rank_multiple)

    out = model if inplace else copy.deepcopy(model)
    out_modules = dict(out.named_modules())
    chosen = {n: r for n, r in ranks.items() if r is not None}
    if cfg.refit:
        facs = refit_layers(
            model, out, chosen, batches,
            lambda n, f: replace_module(out, n, _to_layer(out_modules[n], f)),
            forward=forward, damping=cfg.damping, solver=cfg.solver, progress=progress)
    else:
        facs = {}
        for n in progress_bar(list(chosen), desc=f"factorize ({cfg.method})", enabled=progress):
            facs[n] = _factorize(cfg, modules[n].weight, chosen[n], stats.get(n), fisher.get(n))
            replace_module(out, n, _to_layer(out_modules[n], facs[n]))

    rows = []
    for s in shapes:
        fac = facs.get(s.name)
        gram = stats[s.name].gram if stats else None
        err = 0.0 if fac is None else layer_error(modules[s.name].weight, fac.weight(), gram)
        rows.append(LayerReport(
            s.name, s.out_features, s.in_features, ranks[s.name], s.dense_params,
            s.params_at(ranks[s.name]), 0.0 if fac is None else fac.estimated_error, err,
            "dense" if fac is None else fac.solver))
    report = CompressionReport(cfg, rows, params_before, sum(p.numel() for p in out.parameters()),
                               "calibration" if stats else "weight")
    return CompressionResult(out, report, statistics)
