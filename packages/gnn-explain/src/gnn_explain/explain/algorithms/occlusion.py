"""Occlusion: a node's score is the drop of the target probability when its features are
zeroed (all n occluded graphs in one batch)."""

from __future__ import annotations

import torch

from gnn_explain.explain.explainer import Evaluator, Explainer, Problem, Raw


class Occlusion(Explainer):
    name = "occlusion"

    def _explain(self, problem: Problem, ev: Evaluator):
        n = problem.num_nodes
        probs = ev.probs(torch.cat([torch.ones(1, n), 1.0 - torch.eye(n)]))
        return Raw(probs[0] - probs[1:])
