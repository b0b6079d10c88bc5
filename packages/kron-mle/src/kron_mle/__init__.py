"""Maximum likelihood for Kronecker-structured (matrix/tensor normal) covariances.

>>> from kron_mle import fit, sample
>>> Y = sample([S1, S2], n=10, seed=0)          # (10, m1, m2)
>>> res = fit(Y)                                # rational closed form when castling allows
>>> res.sigma1, res.sigma2, res.scale, res.loglik
"""

from importlib.metadata import version as _version

from kron_mle.existence import Existence, NoMLEError, existence
from kron_mle.fit import KronFit, fit
from kron_mle.flipflop import DivergenceError, FlipFlopConfig
from kron_mle.inference import LRTResult, separability_lrt
from kron_mle.model import loglik, logpdf, sample
from kron_mle.rational import NotRationalError, castling_chain
from kron_mle.shrinkage import ShrinkageConfig, shrinkage_fit

__version__ = _version("kron-mle")

__all__ = [
    "DivergenceError",
    "Existence",
    "FlipFlopConfig",
    "KronFit",
    "LRTResult",
    "NoMLEError",
    "NotRationalError",
    "ShrinkageConfig",
    "__version__",
    "castling_chain",
    "existence",
    "fit",
    "loglik",
    "logpdf",
    "sample",
    "separability_lrt",
    "shrinkage_fit",
]
