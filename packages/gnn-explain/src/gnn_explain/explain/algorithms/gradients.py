"""Gradient explainers: Saliency (Simonyan et al. 2014) and Integrated Gradients
(Sundararajan et al. 2017) on node features, both w.r.t. the target class's logit."""

from __future__ import annotations

import torch

from gnn_explain.explain.explainer import Evaluator, Explainer, Problem, Raw
from gnn_explain.graph import masked_copies


class Saliency(Explainer):
    """Node score: sum over features of |d logit / d x|; edge score: |d logit / d edge weight|."""

    name = "saliency"

    def _explain(self, problem: Problem, ev: Evaluator):
        x = problem.x.clone().requires_grad_(True)
        w = torch.ones(problem.edge_index.shape[1], requires_grad=True)
        logit = problem.logits(x, problem.edge_index, edge_weight=w)[0, problem.target]
        gx, gw = torch.autograd.grad(logit, (x, w))
        ev.forward_calls += 1
        ev.graphs_evaluated += 1
        return Raw(gx.abs().sum(-1), gw.abs())


class IntegratedGradients(Explainer):
    """Node score: sum over features of x * mean path gradient, from the all-zero baseline.

    The ``steps`` interpolated inputs (midpoint rule) go through the model as one batch.
    """

    name = "integrated-gradients"

    def __init__(self, steps: int = 50) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps = steps

    def _explain(self, problem: Problem, ev: Evaluator):
        alphas = (torch.arange(self.steps, dtype=problem.x.dtype) + 0.5) / self.steps
        masks = alphas.unsqueeze(-1).expand(-1, problem.num_nodes)
        x, ei, batch = masked_copies(problem.x, problem.edge_index, masks)
        x = x.detach().requires_grad_(True)
        logits = problem.logits(x, ei, batch)
        (grad,) = torch.autograd.grad(logits[:, problem.target].sum(), x)
        ev.forward_calls += 1
        ev.graphs_evaluated += self.steps
        mean_grad = grad.view(self.steps, problem.num_nodes, -1).mean(0)
        return Raw((problem.x * mean_grad).sum(-1))
