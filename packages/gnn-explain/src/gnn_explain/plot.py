"""Pictures as PNG (matplotlib's Agg canvas; no pyplot, no global backend change)."""

from __future__ import annotations

import io
from pathlib import Path

import networkx as nx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from accelerator_utils import atomic_write
from gnn_explain.explain.explanation import Explanation
from gnn_explain.graph import Graph, k_hop_subgraph, to_networkx


def _save(fig: Figure, path: str | Path) -> Path:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    with atomic_write(path, "wb") as handle:
        handle.write(buf.getvalue())
    return Path(path)


def draw_explanation(
    graph: Graph,
    explanation: Explanation,
    path: str | Path,
    *,
    size: int | None = None,
    hops: int = 3,
    title: str | None = None,
    seed: int = 0,
) -> Path:
    """Draw ``graph`` (node tasks: the ``hops``-hop neighbourhood of the explained node) with
    the explanation's nodes (``size`` of them, default: its own subgraph or 5) in red and the
    edges among them thick; node colour intensity shows the node mask. Saves a PNG."""
    chosen = explanation.nodes_at_size(
        size or (len(explanation.subgraph) if explanation.subgraph is not None else 5)
    )
    g = to_networkx(graph)
    if explanation.node is not None:
        subset, *_ = k_hop_subgraph(explanation.node, hops, graph.edge_index, graph.num_nodes)
        g = g.subgraph(subset.tolist()).copy()
    picked = set(chosen.tolist())
    mask = explanation.node_mask
    scale = float(mask.abs().max()) or 1.0
    pos = nx.spring_layout(g, seed=seed)
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    nodes = list(g.nodes)
    colours = [float(mask[u].abs()) / scale for u in nodes]
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#bbbbbb", width=1.0)
    inside = [(u, v) for u, v in g.edges if u in picked and v in picked]
    nx.draw_networkx_edges(g, pos, edgelist=inside, ax=ax, edge_color="#d62728", width=3.0)
    nx.draw_networkx_nodes(
        g,
        pos,
        nodelist=nodes,
        node_color=colours,
        cmap="Blues",
        vmin=0,
        vmax=1,
        node_size=120,
        ax=ax,
        edgecolors="#555555",
        linewidths=0.5,
    )
    nx.draw_networkx_nodes(
        g, pos, nodelist=sorted(picked & set(nodes)), node_color="#d62728", node_size=160, ax=ax
    )
    if explanation.node is not None:
        nx.draw_networkx_nodes(
            g,
            pos,
            nodelist=[explanation.node],
            node_color="none",
            edgecolors="black",
            linewidths=2.5,
            node_size=320,
            ax=ax,
        )
    ax.set_title(
        title or f"{explanation.explainer}: {len(picked)} nodes, class {explanation.target}"
    )
    ax.axis("off")
    return _save(fig, path)


def plot_fidelity_curves(
    curves: dict[str, list[tuple[float, float]]],
    path: str | Path,
    *,
    title: str = "",
    ylabel: str = "fidelity+ (prob)",
) -> Path:
    """One line per explainer through its (sparsity, fidelity) points. Saves a PNG."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, pts in curves.items():
        pts = sorted(pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xlabel("sparsity (1 - |S| / n)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
