"""Maximum likelihood for Kronecker-structured (matrix/tensor normal) covariances."""

from importlib.metadata import version as _version

__version__ = _version("kron-mle")

__all__ = ["__version__"]
