"""Pictures are written as PNG; the CLI runs end to end and refuses bad input clearly."""

import json

import pytest

from gnn_explain.cli import main
from gnn_explain.explain import Occlusion
from gnn_explain.plot import draw_explanation, plot_fidelity_curves

PNG = b"\x89PNG"


def test_draw_explanation_graph_and_node(tmp_path, graph, graph_model, node_model):
    ex = Occlusion().explain(graph_model, graph)
    path = draw_explanation(graph, ex, tmp_path / "g.png", size=4)
    assert path.read_bytes()[:4] == PNG
    ex = Occlusion().explain(node_model, graph, node=9)
    assert draw_explanation(graph, ex, tmp_path / "n.png", hops=2).read_bytes()[:4] == PNG


def test_fidelity_curves(tmp_path):
    path = plot_fidelity_curves(
        {"a": [(0.5, 0.1), (0.7, 0.3)], "b": [(0.6, 0.2)]}, tmp_path / "c.png"
    )
    assert path.read_bytes()[:4] == PNG


def test_cli_run_small(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--dataset",
            "ba-shapes",
            "--explainer",
            "occlusion,random",
            "--epochs",
            "200",
            "--instances",
            "2",
            "--sparsity",
            "0.5",
            "--out",
            str(out),
            "--pictures",
            "1",
        ]
    )
    assert code == 0
    table = (out / "metrics.md").read_text()
    assert "| occlusion |" in table and "| random |" in table
    data = json.loads((out / "metrics.json").read_text())
    assert data["dataset"] == "ba-shapes" and len(data["scores"]) == 2
    by_name = {s["explainer"]: s for s in data["scores"]}
    assert by_name["occlusion"]["edge_auc"] is None  # node scores only
    assert 0.0 <= by_name["random"]["edge_auc"] <= 1.0
    assert (out / "occlusion_0.png").read_bytes()[:4] == PNG


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--dataset", "cora", "--out", "x"], "invalid choice"),
        (
            ["run", "--dataset", "ba-shapes", "--explainer", "lime", "--out", "x"],
            "unknown explainer",
        ),
        (["run", "--dataset", "ba-shapes", "--sparsity", "1.5", "--out", "x"], "sparsity"),
    ],
)
def test_cli_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_bad_instances(tmp_path, capsys):
    code = main(["run", "--dataset", "ba-shapes", "--instances", "0", "--out", str(tmp_path)])
    assert code == 2 and "--instances must be >= 1" in capsys.readouterr().err
