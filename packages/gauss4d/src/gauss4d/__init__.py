"""4D Gaussian Splatting for dynamic scenes in pure PyTorch."""

from importlib.metadata import version as _version

__version__ = _version("gauss4d")

__all__ = ["__version__"]
