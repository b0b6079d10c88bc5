"""The command line end to end on a tiny scene, and its error path."""

from __future__ import annotations

import json

import torch

from gauss4d.cli import main


def test_make_scene_train_eval_render(tmp_path, capsys):
    data, run = tmp_path / "scene", tmp_path / "run"
    assert (
        main(
            [
                "make-scene",
                str(data),
                "--width",
                "16",
                "--height",
                "16",
                "--train-times",
                "4",
                "--test-times",
                "2",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                str(data),
                "--out",
                str(run),
                "--coarse",
                "4",
                "--fine",
                "3",
                "--n-init",
                "40",
                "--sh-degree",
                "1",
                "--random-background",
            ]
        )
        == 0
    )
    assert (run / "checkpoint.pt").is_file() and (run / "history.json").is_file()
    assert torch.load(run / "checkpoint.pt", weights_only=False)["config"]["random_background"]
    assert main(["eval", str(run)]) == 0
    scores = json.loads((run / "eval_test.json").read_text())
    assert scores["model"]["n_frames"] == 2 and scores["static"]["n_gaussians"] > 0
    assert main(["render", str(run), "--frames", "3"]) == 0
    assert (run / "orbit.gif").stat().st_size > 0 and (run / "orbit_grid.png").is_file()
    assert "PSNR" in capsys.readouterr().out


def test_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    assert "gauss4d train" in capsys.readouterr().err


def test_unavailable_device_and_backend_are_clear_errors(tmp_path, capsys):
    import pytest
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as exit_:
            main(["eval", str(tmp_path), "--device", "cuda"])
        assert exit_.value.code == 2 and "CUDA is not available" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", str(tmp_path), "--backend", "cuda-kernels"])


def test_measure_fps_and_model_size():
    import torch

    from gauss4d.camera import orbit_camera
    from gauss4d.evaluate import measure_fps
    from gauss4d.model import DynamicModel
    from gauss4d.train.init import init_random

    model = DynamicModel(init_random(30, 1.0, 1, torch.Generator().manual_seed(0)))
    assert measure_fps(model, orbit_camera(0.0, 0.3, 3.0, 0.7, 16, 16), repeats=2) > 0
    assert model.size_bytes() == 30 * (3 + 3 + 4 + 1 + 12) * 4
