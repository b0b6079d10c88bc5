"""Explainers under one API and the one Explanation type they return."""

from __future__ import annotations

from gnn_explain.explain.algorithms.gnnexplainer import GNNExplainer, GNNExplainerConfig
from gnn_explain.explain.algorithms.gradients import IntegratedGradients, Saliency
from gnn_explain.explain.algorithms.occlusion import Occlusion
from gnn_explain.explain.algorithms.pgexplainer import PGExplainer, PGExplainerConfig
from gnn_explain.explain.algorithms.random_explainer import RandomExplainer
from gnn_explain.explain.algorithms.subgraphx import SubgraphX, SubgraphXConfig
from gnn_explain.explain.algorithms.subgraphx_reference import SubgraphXReference
from gnn_explain.explain.explainer import Evaluator, Explainer, Problem, prepare
from gnn_explain.explain.explanation import Explanation

EXPLAINERS: dict[str, type[Explainer]] = {
    "subgraphx": SubgraphX,
    "subgraphx-reference": SubgraphXReference,
    "gnnexplainer": GNNExplainer,
    "pgexplainer": PGExplainer,
    "saliency": Saliency,
    "integrated-gradients": IntegratedGradients,
    "occlusion": Occlusion,
    "random": RandomExplainer,
}


def make_explainer(name: str, **kwargs) -> Explainer:
    """An explainer by name (see ``EXPLAINERS``); ``kwargs`` go to its constructor."""
    if name not in EXPLAINERS:
        raise ValueError(f"unknown explainer {name!r}; choose one of {sorted(EXPLAINERS)}")
    return EXPLAINERS[name](**kwargs)


__all__ = [
    "EXPLAINERS",
    "Evaluator",
    "Explainer",
    "Explanation",
    "GNNExplainer",
    "GNNExplainerConfig",
    "IntegratedGradients",
    "Occlusion",
    "PGExplainer",
    "PGExplainerConfig",
    "Problem",
    "RandomExplainer",
    "Saliency",
    "SubgraphX",
    "SubgraphXConfig",
    "SubgraphXReference",
    "make_explainer",
    "prepare",
]
