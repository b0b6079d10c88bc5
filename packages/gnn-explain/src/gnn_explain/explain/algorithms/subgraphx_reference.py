"""Plain SubgraphX: recursive tree search on networkx, one forward pass per masked graph.

Written the straightforward way (as the reference implementation, DIG, works): each child's
Shapley value is estimated by a Python loop over samples, two unbatched forward passes each.
It shares with :mod:`subgraphx` only the sample generator (so both see the same draws) and the
config; tests check that both return the same explanation. Slow by design: the baseline of the
batched-vs-unbatched benchmark.
"""

from __future__ import annotations

import math

import networkx as nx

from gnn_explain.explain.algorithms.shapley import shapley_masks
from gnn_explain.explain.algorithms.subgraphx import SubgraphXConfig, coalition_masks
from gnn_explain.explain.explainer import Evaluator, Explainer, Problem, Raw


class _Node:
    def __init__(self, coalition: list[int]) -> None:
        self.coalition = coalition
        self.W, self.N, self.P, self.scored = 0.0, 0, 0.0, False
        self.children: list[_Node] = []


class SubgraphXReference(Explainer):
    """Unbatched SubgraphX (same config, same answer as :class:`SubgraphX`)."""

    name = "subgraphx-reference"

    def __init__(self, config: SubgraphXConfig | None = None) -> None:
        self.config = config or SubgraphXConfig()

    def _explain(self, problem: Problem, ev: Evaluator):
        cfg = self.config
        g = nx.Graph()
        g.add_nodes_from(range(problem.num_nodes))
        g.add_edges_from((u, v) for u, v in problem.edge_index.t().tolist() if u != v)
        hops = cfg.hops or getattr(problem.model, "num_layers", 3)
        keep = problem.node
        states: dict[tuple[int, ...], _Node] = {}

        def shapley(coalition: list[int]) -> float:
            region = set(coalition)
            for _ in range(hops):
                region |= {v for u in region for v in g.neighbors(u)}
            inc, exc = shapley_masks(
                tuple(coalition),
                sorted(region),
                problem.num_nodes,
                cfg.num_samples,
                cfg.seed,
                keep=keep,
            )
            total = 0.0
            for s in range(cfg.num_samples):
                total += ev.prob(inc[s]) - ev.prob(exc[s])
            return total / cfg.num_samples

        def component(nodes: list[int]) -> list[int]:
            comps = sorted(nx.connected_components(g.subgraph(nodes)), key=min)
            if keep is not None:
                return sorted(next(c for c in comps if keep in c))
            return sorted(max(comps, key=len))

        def rollout(tree: _Node) -> float:
            if len(tree.coalition) <= cfg.min_nodes:
                return tree.P
            if not tree.children:
                sub = g.subgraph(tree.coalition)
                sign = -1 if cfg.high2low else 1
                order = sorted(tree.coalition, key=lambda u: (sign * sub.degree(u), u))
                order = [u for u in order if u != keep][: cfg.expand_children]
                for u in order:
                    coalition = component([v for v in tree.coalition if v != u])
                    child = states.setdefault(tuple(coalition), _Node(coalition))
                    if all(c is not child for c in tree.children):
                        tree.children.append(child)
                for child in tree.children:
                    if not child.scored:
                        child.P, child.scored = shapley(child.coalition), True
            if not tree.children:
                return tree.P
            visits = sum(c.N for c in tree.children)
            best, best_value = None, -math.inf
            for c in tree.children:
                q = c.W / c.N if c.N else 0.0
                value = q + cfg.c_puct * c.P * math.sqrt(visits) / (1 + c.N)
                if value > best_value:
                    best, best_value = c, value
            v = rollout(best)
            best.W += v
            best.N += 1
            return v

        root = _Node(component(list(range(problem.num_nodes))))
        states[tuple(root.coalition)] = root
        for _ in range(cfg.rollouts):
            rollout(root)
        if not root.children:
            root.P, root.scored = shapley(root.coalition), True
        scored = sorted(
            (n for n in states.values() if n.scored), key=lambda n: (len(n.coalition), n.coalition)
        )
        best = scored[0]
        for n in scored:
            if len(n.coalition) <= cfg.max_nodes and n.P > best.P:
                best = n
        node_mask, edge_mask, ids = coalition_masks(problem, tuple(best.coalition))
        return Raw(node_mask, edge_mask, ids, best.P)
