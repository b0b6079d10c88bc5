"""Synthetic scene generator and D-NeRF loader: conventions, splits and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gauss4d.data import SceneConfig, load_dnerf, make_scene
from gauss4d.data.dnerf import c2w_gl_to_w2c, w2c_to_c2w_gl
from gauss4d.data.synthetic import scene_objects
from gauss4d.raster.project import to_camera

TINY = SceneConfig(n_train_times=6, n_test_times=2, n_val=2, width=24, height=24, supersample=1)


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("scene"), TINY)


def test_splits_hold_out_times(scene_dir):
    train, test = load_dnerf(scene_dir, "train"), load_dnerf(scene_dir, "test")
    assert train.images.shape == (6, 24, 24, 3) and len(test) == 2
    assert train.times.min() == 0 and train.times.max() == 1
    assert not set(test.times.tolist()) & set(train.times.tolist())
    assert torch.all((train.images >= 0) & (train.images <= 1))


def test_object_centres_project_onto_covered_pixels(scene_dir):
    """The ray through a projected object centre must hit something: the loader's cameras and the
    ray caster agree on the convention."""
    split = load_dnerf(scene_dir, "train")
    for cam, t, alpha in zip(split.cameras, split.times.tolist(), split.alphas):
        centres = torch.tensor(
            np.stack([o["center"] for o in scene_objects(t, TINY.cycles)]), dtype=torch.float32
        )
        p = to_camera(centres, cam)
        u = (cam.fx * p[:, 0] / p[:, 2] + cam.cx).floor().long()
        v = (cam.fy * p[:, 1] / p[:, 2] + cam.cy).floor().long()
        inside = (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
        assert inside.any()
        assert torch.all(alpha[v[inside], u[inside]] == 1.0)
        assert alpha.mean() < 0.6  # and there is background around the objects


def test_matrix_convention_roundtrip():
    w2c = torch.eye(4, dtype=torch.float64)
    w2c[:3, 3] = torch.tensor([0.1, -0.2, 3.0])
    torch.testing.assert_close(c2w_gl_to_w2c(w2c_to_c2w_gl(w2c)), w2c)


def test_black_background(scene_dir):
    white, black = load_dnerf(scene_dir, "val", "white"), load_dnerf(scene_dir, "val", "black")
    torch.testing.assert_close(
        white.images - black.images, (1 - white.alphas)[..., None].expand_as(white.images)
    )


def _copy_scene(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_bad_inputs(scene_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"transforms_nope\.json"):
        load_dnerf(scene_dir, "nope")
    with pytest.raises(ValueError, match="background"):
        load_dnerf(scene_dir, "train", "grey")
    bad = _copy_scene(scene_dir, tmp_path / "bad")
    (bad / "transforms_train.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_dnerf(bad, "train")
    meta = json.loads((scene_dir / "transforms_test.json").read_text())
    del meta["frames"][0]["time"]
    (bad / "transforms_test.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="lacks"):
        load_dnerf(bad, "test")
    (bad / "val" / "r_000.png").unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        load_dnerf(bad, "val")


def test_mismatched_image_sizes(scene_dir, tmp_path):
    bad = _copy_scene(scene_dir, tmp_path / "sizes")
    Image.new("RGBA", (10, 12)).save(bad / "train" / "r_001.png")
    with pytest.raises(ValueError, match="resolution"):
        load_dnerf(bad, "train")
    assert load_dnerf(bad, "train", resolution=(12, 12)).images.shape[1:3] == (12, 12)


def test_scene_motion_scales_with_cycles_and_rejects_bad_values():
    """Half the cycles: every object is where the full-speed scene had it at half the time."""
    for slow, fast in zip(scene_objects(0.5, 0.5), scene_objects(0.25, 1.0)):
        for key in ("center", "rot", "radii"):
            assert np.allclose(slow[key], fast[key]), key
    with pytest.raises(ValueError, match="cycles"):
        SceneConfig(cycles=0.0)
