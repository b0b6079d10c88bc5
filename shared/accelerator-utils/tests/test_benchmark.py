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


def test_compare_records_cpu_time_apart_from_wall_time():
    # sleeping costs wall time but no CPU time; spinning costs both
    def spin():
        t0 = time.process_time()
        while time.process_time() - t0 < 0.003:
            pass

    cmp = compare(
        {"spin": spin, "sleep": lambda: time.sleep(0.003)}, repeats=3, warmup=0, min_time_s=0.0
    )
    spin_row, sleep_row = cmp.row("spin"), cmp.row("sleep")
    assert spin_row.cpu_median_s >= 0.0025
    assert sleep_row.cpu_median_s < 0.001
    assert sleep_row.cpu_ratio < 0.3 and sleep_row.ratio > 0.5
    assert "CPU time / spin" in cmp.to_markdown()


def test_report_names_the_thread_count_the_comparisons_ran_with(tmp_path):
    import torch

    from accelerator_utils import limit_threads

    report = BenchmarkReport("demo-pkg")
    outside = torch.get_num_threads()
    with limit_threads(1):
        report.add(compare({"a": lambda: None}, repeats=1, min_time_s=0.0))
    assert report.comparisons[0].threads == 1
    data = json.loads(report.write(tmp_path).read_text())
    assert "(1 torch threads)" in data["hardware"]
    assert data["comparisons"][0]["threads"] == 1
    if outside != 1:
        assert f"({outside} torch threads)" not in data["hardware"]
    assert "1 torch threads" in (tmp_path / "demo-pkg.md").read_text()
