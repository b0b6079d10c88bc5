"""Datasets: the D-NeRF format (loader) and a synthetic dynamic-scene generator writing it."""

from gauss4d.data.dnerf import DNeRFSplit, load_dnerf
from gauss4d.data.synthetic import SceneConfig, make_scene

__all__ = ["DNeRFSplit", "SceneConfig", "load_dnerf", "make_scene"]
