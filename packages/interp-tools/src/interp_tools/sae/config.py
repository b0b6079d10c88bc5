"""Validated configuration of sparse autoencoders and their training."""

from __future__ import annotations

from dataclasses import asdict, dataclass

KINDS = ("relu", "topk", "batchtopk", "jumprelu", "gated")


@dataclass(frozen=True)
class SAEConfig:
    """Architecture of an SAE with ``d_sae`` latents over ``d_in``-dimensional activations.

    kind: ``relu`` (ReLU + L1), ``topk`` (TopK + AuxK, Gao et al. 2024), ``batchtopk``
    (Bussmann et al. 2024), ``jumprelu`` (Rajamanoharan et al. 2024b, straight-through
    threshold), ``gated`` (Rajamanoharan et al. 2024a).
    k: active latents per token (topk, batchtopk). l1_coeff: sparsity coefficient (relu,
    gated: L1; jumprelu: L0). jump_bandwidth / jump_init_threshold: JumpReLU kernel width
    and initial threshold. aux_k / aux_coeff: AuxK latents and loss weight (topk, batchtopk).
    """

    d_in: int
    d_sae: int
    kind: str = "topk"
    k: int = 8
    l1_coeff: float = 1e-3
    aux_k: int = 32
    aux_coeff: float = 1 / 32
    jump_bandwidth: float = 1e-3
    jump_init_threshold: float = 1e-3

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown SAE kind {self.kind!r}; use one of {KINDS}")
        if self.d_in < 1 or self.d_sae < 1:
            raise ValueError(f"d_in and d_sae must be >= 1, got {self.d_in}, {self.d_sae}")
        if self.kind in ("topk", "batchtopk") and not 1 <= self.k <= self.d_sae:
            raise ValueError(f"k must be in [1, d_sae={self.d_sae}], got {self.k}")
        if self.l1_coeff < 0 or self.aux_coeff < 0 or self.jump_bandwidth <= 0:
            raise ValueError("l1_coeff and aux_coeff must be >= 0 and jump_bandwidth > 0")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """Adam training: ``steps`` batches of ``batch_size`` activations.

    dead_after: a latent is dead after this many tokens without firing (AuxK, resampling).
    resample_every: resample dead latents every so many steps (0: never; Bricken et al. 2023).
    """

    steps: int = 1000
    batch_size: int = 1024
    lr: float = 1e-3
    dead_after: int = 100_000
    resample_every: int = 0
    normalize_decoder: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0 or self.dead_after < 1:
            raise ValueError(f"need steps, batch_size, dead_after >= 1 and lr > 0; got {self}")
        if self.resample_every < 0:
            raise ValueError(f"resample_every must be >= 0, got {self.resample_every}")
