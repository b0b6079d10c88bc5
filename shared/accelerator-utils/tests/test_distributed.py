"""The distributed helpers in two real processes (torchrun, gloo on the CPU), and alone."""

import json
import os
import subprocess
import sys
import textwrap

import torch

from accelerator_utils.distributed import (
    all_reduce,
    all_reduce_scalar,
    init_from_env,
    shard,
    shard_range,
)

WORKER = textwrap.dedent(
    """
    import json, sys
    import torch
    from accelerator_utils import distributed as d

    info = d.init_from_env()
    t = torch.tensor([float(info.rank + 1), 10.0 * (info.rank + 1)])
    d.all_reduce(t, "sum")
    m = torch.tensor([float(info.rank)])
    d.all_reduce(m, "max")
    mean = d.all_reduce_scalar(info.rank + 1, "mean")
    part = list(d.shard(list(range(7))))
    gathered = torch.zeros(7)
    gathered[list(part)] = 1.0
    d.all_reduce(gathered)
    out = {"rank": info.rank, "world": info.world_size, "backend": info.backend,
           "sum": t.tolist(), "max": m.item(), "mean": mean, "cover": gathered.tolist()}
    with open(sys.argv[1] + f".{info.rank}", "w") as fh:
        json.dump(out, fh)
    d.barrier()
    d.cleanup()
    """
)


def test_two_process_all_reduce_with_torchrun(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "result"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(script),
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads((tmp_path / f"result.{r}").read_text()) for r in (0, 1)]
    for r, res in enumerate(results):
        assert res["rank"] == r and res["world"] == 2 and res["backend"] == "gloo"
        assert res["sum"] == [3.0, 30.0]  # 1 + 2, 10 + 20
        assert res["max"] == 1.0
        assert res["mean"] == 1.5
        assert res["cover"] == [1.0] * 7  # the shards cover every item exactly once


def test_single_process_fallback_is_identity(monkeypatch):
    for var in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    info = init_from_env()
    assert (info.rank, info.world_size, info.backend) == (0, 1, None)
    t = torch.tensor([2.0])
    assert all_reduce(t).item() == 2.0
    assert all_reduce_scalar(3.0, "mean") == 3.0


def test_shards_partition_evenly():
    for n in range(0, 20):
        for world in range(1, 5):
            ranges = [shard_range(n, r, world) for r in range(world)]
            assert [i for rg in ranges for i in rg] == list(range(n))
            assert max(len(rg) for rg in ranges) - min(len(rg) for rg in ranges) <= 1
    assert shard("abcdefg", 1, 3) == "de"  # sizes 3, 2, 2
