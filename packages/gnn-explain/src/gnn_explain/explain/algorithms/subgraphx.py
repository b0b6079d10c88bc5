"""SubgraphX (Yuan et al. 2021): Monte Carlo tree search over connected subgraphs scored by
their Shapley value, with every tree level's coalitions evaluated in batched forward passes.

Tree nodes are coalitions (sorted tuples of node ids). The root is the whole graph (node
tasks: the L-hop computation subgraph). Expanding a tree node prunes, one at a time, its
``expand_children`` lowest-degree nodes (``high2low`` for highest), keeping after each pruning
the largest connected component (node tasks: the component holding the explained node); equal
coalitions reached along different paths share one tree node (the score cache). A rollout
walks down from the root choosing the child maximising Q + U,
Q = W / N, U = c_puct * P * sqrt(sum of sibling N) / (1 + N), until a coalition has at most
``min_nodes`` nodes, and adds that leaf's score P to W (and 1 to N) of every node on the path.
The explanation is the highest-scoring coalition with at most ``max_nodes`` nodes.

Defaults are the reference implementation's (DIG): 20 rollouts, c_puct 10, minimum 5 nodes,
14 children per expansion, low-degree-first pruning, 100 Monte Carlo samples, 14 max nodes;
its ``local_radius`` 4 (which expands 3 hops) is ``hops`` = the number of GNN layers here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from gnn_explain.explain.algorithms.shapley import adjacency_sets, local_region, shapley_masks
from gnn_explain.explain.explainer import Evaluator, Explainer, Problem, Raw


@dataclass(frozen=True)
class SubgraphXConfig:
    """Search and reward settings; ``hops=None`` uses the model's layer count."""

    rollouts: int = 20
    c_puct: float = 10.0
    min_nodes: int = 5
    max_nodes: int = 14
    expand_children: int = 14
    high2low: bool = False
    num_samples: int = 100
    hops: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rollouts", "min_nodes", "max_nodes", "expand_children", "num_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.c_puct < 0:
            raise ValueError(f"c_puct must be >= 0, got {self.c_puct}")


@dataclass
class TreeNode:
    """One coalition in the search tree: total reward W, visits N, Shapley score P."""

    coalition: tuple[int, ...]
    W: float = 0.0
    N: int = 0
    P: float = 0.0
    scored: bool = False
    children: list[TreeNode] = field(default_factory=list)

    def q(self) -> float:
        return self.W / self.N if self.N > 0 else 0.0

    def u(self, c_puct: float, visits: int) -> float:
        return c_puct * self.P * math.sqrt(visits) / (1 + self.N)


def prune_candidates(
    adj: list[set[int]], coalition: tuple[int, ...], k: int, high2low: bool, keep: int | None
) -> list[int]:
    """The ``k`` nodes to prune: ordered by degree inside the coalition, then by id."""
    members = set(coalition)
    degree = {u: len(adj[u] & members) for u in coalition}
    order = sorted(coalition, key=lambda u: (-degree[u] if high2low else degree[u], u))
    return [u for u in order if u != keep][:k]


def main_component(adj: list[set[int]], nodes: set[int], keep: int | None) -> tuple[int, ...]:
    """The largest connected component of ``nodes`` (or the one holding ``keep``), sorted.

    Equal sizes resolve to the component with the smallest node id.
    """
    best: set[int] = set()
    seen: set[int] = set()
    for start in sorted(nodes):
        if start in seen:
            continue
        comp, stack = {start}, [start]
        while stack:
            for v in adj[stack.pop()] & nodes:
                if v not in comp:
                    comp.add(v)
                    stack.append(v)
        seen |= comp
        if (keep in comp) if keep is not None else len(comp) > len(best):
            best = comp
    return tuple(sorted(best))


class MCTS:
    """The tree search with a pluggable scorer ``score(list of coalitions) -> list of P``."""

    def __init__(
        self,
        adj: list[set[int]],
        root: tuple[int, ...],
        cfg: SubgraphXConfig,
        keep: int | None,
        score,
    ) -> None:
        self.adj, self.cfg, self.keep, self.score = adj, cfg, keep, score
        self.root = TreeNode(root)
        self.states: dict[tuple[int, ...], TreeNode] = {root: self.root}

    def expand(self, node: TreeNode) -> None:
        for u in prune_candidates(
            self.adj, node.coalition, self.cfg.expand_children, self.cfg.high2low, self.keep
        ):
            coalition = main_component(self.adj, set(node.coalition) - {u}, self.keep)
            child = self.states.setdefault(coalition, TreeNode(coalition))
            if all(c is not child for c in node.children):
                node.children.append(child)
        todo = [c for c in node.children if not c.scored]
        for child, p in zip(todo, self.score([c.coalition for c in todo])):
            child.P, child.scored = float(p), True

    def rollout(self) -> None:
        node, path = self.root, []
        while len(node.coalition) > self.cfg.min_nodes:
            if not node.children:
                self.expand(node)
            if not node.children:
                break
            visits = sum(c.N for c in node.children)
            node = max(node.children, key=lambda c: c.q() + c.u(self.cfg.c_puct, visits))
            path.append(node)
        for n in path:
            n.W += node.P
            n.N += 1

    def run(self) -> list[TreeNode]:
        for _ in range(self.cfg.rollouts):
            self.rollout()
        if not self.root.children:  # the graph is no larger than min_nodes: score it whole
            self.root.P, self.root.scored = self.score([self.root.coalition])[0], True
        return [n for n in self.states.values() if n.scored]


def best_coalition(results: list[TreeNode], max_nodes: int) -> TreeNode:
    """The highest-scoring coalition with at most ``max_nodes`` nodes (else the smallest)."""
    results = sorted(results, key=lambda n: (len(n.coalition), n.coalition))
    best = results[0]
    for n in results:
        if len(n.coalition) <= max_nodes and n.P > best.P:
            best = n
    return best


def batched_scorer(problem: Problem, ev: Evaluator, adj: list[set[int]], cfg: SubgraphXConfig):
    """Score coalitions by Monte Carlo Shapley, all of them in one disjoint-union batch."""
    hops = cfg.hops or getattr(problem.model, "num_layers", 3)

    def score(coalitions: list[tuple[int, ...]]) -> list[float]:
        if not coalitions:
            return []
        inc, exc = zip(
            *(
                shapley_masks(
                    c,
                    local_region(adj, c, hops),
                    problem.num_nodes,
                    cfg.num_samples,
                    cfg.seed,
                    keep=problem.node,
                )
                for c in coalitions
            )
        )
        probs = ev.probs(torch.cat([torch.stack(inc), torch.stack(exc)]).flatten(0, 1))
        probs = probs.view(2, len(coalitions), cfg.num_samples)
        return (probs[0] - probs[1]).mean(-1).tolist()

    return score


def search(problem: Problem, ev: Evaluator, cfg: SubgraphXConfig) -> list[TreeNode]:
    """Run the batched MCTS on ``problem``; every scored coalition of the tree."""
    adj = adjacency_sets(problem.edge_index, problem.num_nodes)
    keep = problem.node
    root = main_component(adj, set(range(problem.num_nodes)), keep)
    return MCTS(adj, root, cfg, keep, batched_scorer(problem, ev, adj, cfg)).run()


def coalition_masks(problem: Problem, coalition: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """(node_mask (n,), edge_mask (E,), ids (k,)) of a hard coalition on local ids."""
    ids = torch.tensor(coalition, dtype=torch.long)
    node_mask = torch.zeros(problem.num_nodes).index_fill_(0, ids, 1.0)
    src, dst = problem.edge_index
    return node_mask, node_mask[src] * node_mask[dst], ids


class SubgraphX(Explainer):
    """SubgraphX with batched coalition scoring (see the module docstring).

    The explanation's ``candidates`` hold every scored coalition with its Shapley value, so
    explanations of every size come from one search (``Explanation.nodes_at_size``).
    """

    name = "subgraphx"

    def __init__(self, config: SubgraphXConfig = SubgraphXConfig()) -> None:
        self.config = config

    def _explain(self, problem: Problem, ev: Evaluator) -> Raw:
        results = search(problem, ev, self.config)
        best = best_coalition(results, self.config.max_nodes)
        node_mask, edge_mask, ids = coalition_masks(problem, best.coalition)
        candidates = [(torch.tensor(n.coalition), n.P) for n in results]
        return Raw(node_mask, edge_mask, ids, best.P, candidates)
