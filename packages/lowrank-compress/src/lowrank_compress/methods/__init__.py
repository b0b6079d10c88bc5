"""Per-layer factorization methods: ``svd``, ``fwsvd``, ``asvd`` and ``whiten`` (SVD-LLM)."""

from lowrank_compress.methods.asvd import asvd_factors
from lowrank_compress.methods.fwsvd import fwsvd_factors
from lowrank_compress.methods.svd import randomized_svd, svd_factors
from lowrank_compress.methods.whiten import calibration_error, whiten_factors

METHODS = ("svd", "fwsvd", "asvd", "whiten")

__all__ = [
    "METHODS",
    "asvd_factors",
    "calibration_error",
    "fwsvd_factors",
    "randomized_svd",
    "svd_factors",
    "whiten_factors",
]
