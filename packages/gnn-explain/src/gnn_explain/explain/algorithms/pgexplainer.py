"""PGExplainer (Luo et al. 2020): an MLP maps the model's embeddings of an edge's endpoints
(and, for node tasks, of the explained node) to an edge logit; it is trained once across many
instances with concrete (Gumbel-sigmoid) samples and a temperature annealed from ``temp[0]``
to ``temp[1]``. Defaults as PyTorch Geometric's.

loss = -log p_target(graph with edge weights m) + edge_size * sum(m) + edge_ent * mean(H(m)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from accelerator_utils import make_generator
from accelerator_utils import progress as progress_bar
from gnn_explain.explain.algorithms.gnnexplainer import edge_to_node, entropy
from gnn_explain.explain.explainer import Evaluator, Explainer, Problem, Raw, prepare
from gnn_explain.graph import Graph


@dataclass(frozen=True)
class PGExplainerConfig:
    epochs: int = 30
    lr: float = 0.003
    hidden: int = 64
    edge_size: float = 0.05
    edge_ent: float = 1.0
    temp: tuple[float, float] = (5.0, 2.0)
    bias: float = 0.01
    seed: int = 0


class PGExplainer(Explainer):
    """Call :meth:`fit` on training instances before :meth:`explain`."""

    name = "pgexplainer"

    def __init__(self, config: PGExplainerConfig = PGExplainerConfig()) -> None:
        self.config = config
        self.mlp: nn.Module | None = None

    def _inputs(self, problem: Problem) -> Tensor:
        with torch.no_grad():
            z = problem.model.embed(problem.x, problem.edge_index)
        src, dst = problem.edge_index
        parts = [z[src], z[dst]]
        if problem.node is not None:
            parts.append(z[problem.node].expand(len(src), -1))
        return torch.cat(parts, dim=-1)

    def fit(
        self,
        model: nn.Module,
        instances: list[tuple[Graph, int | None]],
        *,
        seed: int | None = None,
        progress: bool | None = None,
    ) -> PGExplainer:
        """Train the edge MLP on ``instances`` = [(graph, node or None)], targets = predictions.

        ``seed`` (default ``config.seed``) fixes the MLP's initialisation and the concrete
        samples; the global RNG state is left untouched. ``progress``: show a bar (None: only
        on a terminal outside CI).
        """
        if not instances:
            raise ValueError("PGExplainer.fit needs at least one (graph, node) instance")
        cfg = self.config
        seed = cfg.seed if seed is None else seed
        gen = make_generator(seed)
        problems = [prepare(model, g, node, None) for g, node in instances]
        inputs = [self._inputs(p) for p in problems]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.mlp = nn.Sequential(
                nn.Linear(inputs[0].shape[1], cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 1)
            )
        opt = torch.optim.Adam(self.mlp.parameters(), lr=cfg.lr)
        for epoch in progress_bar(range(cfg.epochs), desc="fit pgexplainer", enabled=progress):
            temp = cfg.temp[0] * (cfg.temp[1] / cfg.temp[0]) ** (epoch / cfg.epochs)
            opt.zero_grad()
            loss = sum(self._loss(p, h, temp, gen) for p, h in zip(problems, inputs))
            (loss / len(problems)).backward()
            opt.step()
        return self

    def _loss(self, p: Problem, h: Tensor, temp: float, gen: torch.Generator) -> Tensor:
        cfg = self.config
        logits = self.mlp(h).squeeze(-1)
        u = torch.rand(logits.shape, generator=gen) * (1 - 2 * cfg.bias) + cfg.bias
        m = ((u.log() - (1 - u).log() + logits) / temp).sigmoid()
        out = p.logits(p.x, p.edge_index, edge_weight=m)
        loss = -torch.log_softmax(out, -1)[0, p.target]
        return loss + cfg.edge_size * m.sum() + cfg.edge_ent * entropy(m).mean()

    def _explain(self, problem: Problem, ev: Evaluator):
        if self.mlp is None:
            raise RuntimeError("PGExplainer is not trained: call .fit(model, instances) first")
        with torch.no_grad():
            m = self.mlp(self._inputs(problem)).squeeze(-1).sigmoid()
        ev.forward_calls += 1
        ev.graphs_evaluated += 1
        return Raw(edge_to_node(problem.edge_index, m, problem.num_nodes), m)
