import json
import time

import pytest

from accelerator_utils import BenchmarkReport, compare


def test_compare_ranks_known_costs_and_reports_ratios():
    order = []
    cmp = compare(
        {
            "slow": lambda: (order.append("s"), time.sleep(0.004)),
            "fast": lambda: (order.append("f"), time.sleep(0.001)),
        },
        baseline="slow",
        repeats=5,
        warmup=0,
        min_time_s=0.0,
        title="sleeps",
    )
    assert cmp.baseline == "slow"
    assert cmp.row("slow").ratio == pytest.approx(1.0)
    assert 2.0 < cmp.speedup("fast") < 5.0
    # interleaved: both candidates run within each round, order rotating
    assert order[1:3] in (["s", "f"], ["f", "s"])
    md = cmp.to_markdown()
    assert "| fast |" in md and "speed-up" in md
    with pytest.raises(KeyError):
        cmp.row("nope")


def test_compare_calibrates_inner_calls_for_tiny_functions():
    cmp = compare({"noop": lambda: None}, repeats=2, min_time_s=0.005)
    assert cmp.rows[0].calls_per_timing > 10


def test_compare_validates():
    with pytest.raises(ValueError, match="baseline"):
        compare({"a": lambda: None}, baseline="b")
    with pytest.raises(ValueError):
        compare({})


def test_report_writes_json_and_markdown(tmp_path):
    report = BenchmarkReport("demo-pkg")
    report.add(compare({"a": lambda: None, "b": lambda: None}, repeats=2, min_time_s=0.0))
    report.metric("accuracy", 0.97, "", target=">= 0.95", passed=True)
    path = report.write(tmp_path)
    data = json.loads(path.read_text())
    assert data["package"] == "demo-pkg"
    assert data["metrics"][0]["value"] == 0.97
    assert data["comparisons"][0]["rows"][0]["name"] == "a"
    assert "threads" in data["environment"]
    assert "accuracy" in (tmp_path / "demo-pkg.md").read_text()
