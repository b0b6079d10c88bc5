"""The random baseline: node and edge scores drawn uniformly from [0, 1), seeded."""

from __future__ import annotations

import torch

from accelerator_utils import make_generator
from gnn_explain.explain.explainer import Evaluator, Explainer, Problem, Raw


class RandomExplainer(Explainer):
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _explain(self, problem: Problem, ev: Evaluator):
        gen = make_generator(self.seed)
        node_mask = torch.rand(problem.num_nodes, generator=gen)
        edge_mask = torch.rand(problem.edge_index.shape[1], generator=gen)
        return Raw(node_mask, edge_mask)
