"""HexPlane sampling, regularisers and the deformation field."""

from __future__ import annotations

import torch

from gauss4d.deformation import DeformationConfig, DeformationField
from gauss4d.hexplane import PLANES, HexPlane, HexPlaneConfig
from gauss4d.train.init import init_random

BOX = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])


def test_output_dim_and_static_start():
    cfg = HexPlaneConfig(features=4, resolution=(6, 6, 6, 5), multires=(1, 2))
    enc = HexPlane(cfg, BOX, torch.Generator().manual_seed(0))
    xyz = torch.rand(10, 3) * 2 - 1
    f0, f1 = enc(xyz, torch.zeros(10)), enc(xyz, torch.ones(10))
    assert f0.shape == (10, cfg.out_dim)
    torch.testing.assert_close(f0, f1)  # time planes start at 1: no time dependence


def test_time_uses_the_full_grid_and_bilinear_is_exact_on_linear_planes():
    cfg = HexPlaneConfig(features=1, resolution=(4, 4, 4, 5), multires=(1,))
    enc = HexPlane(cfg, BOX)
    with torch.no_grad():
        for (_a, b), p in zip(PLANES, enc.grids[0]):
            rows = torch.linspace(0, 1, p.shape[2])[:, None].expand(p.shape[2], p.shape[3])
            p.copy_((1 + rows)[None, None] if b == 3 else torch.ones_like(p))
    t = torch.tensor([0.0, 0.25, 0.6, 1.0])
    out = enc(torch.zeros(4, 3), t)[:, 0]
    torch.testing.assert_close(out, (1 + t) ** 3)  # three time planes, each 1 + t
    assert enc.time_smoothness() < 1e-12 < enc.smoothness()


def test_deformation_starts_as_identity_and_keeps_unit_quaternions():
    g = init_random(20, 1.0, sh_degree=1, generator=torch.Generator().manual_seed(0))
    field = DeformationField(DeformationConfig(HexPlaneConfig(4, (4, 4, 4, 4), (1,)), 16), BOX)
    out = field(g, 0.3)
    torch.testing.assert_close(out.means, g.means)
    torch.testing.assert_close(out.quats, g.unit_quats())
    with torch.no_grad():
        for head in (field.d_position, field.d_rotation):
            head[-1].bias.normal_()
    moved = field(g, 0.7)
    assert (moved.means - g.means).abs().max() > 1e-3
    torch.testing.assert_close(moved.quats.norm(dim=-1), torch.ones(20))


def test_colour_head_moves_only_the_degree_zero_sh_and_starts_as_identity():
    g = init_random(20, 1.0, sh_degree=1, generator=torch.Generator().manual_seed(0))
    hexplane = HexPlaneConfig(4, (4, 4, 4, 4), (1,))
    field = DeformationField(DeformationConfig(hexplane, 16, color=True), BOX)
    torch.testing.assert_close(field(g, 0.3).sh, g.sh)  # zero-initialised head
    with torch.no_grad():
        field.d_color[-1].bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    sh = field(g, 0.3).sh
    torch.testing.assert_close(sh[:, 0] - g.sh[:, 0], torch.tensor([0.1, -0.2, 0.3]).expand(20, 3))
    torch.testing.assert_close(sh[:, 1:], g.sh[:, 1:])
    plain = DeformationField(DeformationConfig(hexplane, 16), BOX)
    assert plain.d_color is None and not any("d_color" in k for k in plain.state_dict())
