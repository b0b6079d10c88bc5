"""Toy tasks with known structure: repeated sequences and the induction score."""

import torch

from interp_tools.toy.induction import induction_score, repeated_sequences


def test_repeated_sequences_repeat_at_their_offset():
    tokens, predictable, offset = repeated_sequences(64, 20, 7, torch.Generator().manual_seed(0))
    for b in range(64):
        n = int(offset[b])
        assert 3 <= n <= 10
        torch.testing.assert_close(tokens[b, 20 - n :], tokens[b, 20 - 2 * n : 20 - n])
        expected = torch.zeros(20, dtype=torch.bool)
        expected[20 - n : 19] = True
        assert torch.equal(predictable[b], expected)
    assert len(set(offset.tolist())) > 3  # offsets vary: no positional shortcut


def test_induction_score_of_a_perfect_and_a_uniform_head():
    _, predictable, offset = repeated_sequences(8, 12, 5, torch.Generator().manual_seed(1))
    T = 12
    perfect = torch.zeros(8, 1, T, T)
    for b in range(8):
        for p in range(T):
            perfect[b, 0, p, max(0, p - int(offset[b]) + 1)] = 1.0
    uniform = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]
    pattern = torch.cat([perfect, uniform.expand(8, 1, T, T)], dim=1)
    score = induction_score(pattern, offset, predictable)
    assert score[0] == 1.0 and score[1] < 0.25


def test_seeded_trainings_repeat_and_leave_the_global_rng_alone():
    from interp_tools.maxofk import maxofk_config, train_maxofk
    from interp_tools.toy import ModularConfig, train_modular_mlp
    from interp_tools.toy.induction import train_induction

    state = torch.random.get_rng_state()
    runs = [
        lambda: train_maxofk(maxofk_config(8, 3, 16), steps=3, seed=1, progress=False).losses,
        lambda: train_induction(2, steps=3, seed=1, progress=False).losses,
        lambda: train_modular_mlp(ModularConfig(p=5, hidden=(8,)), steps=3, seed=1).losses,
    ]
    for run in runs:
        assert run() == run()
    assert torch.equal(state, torch.random.get_rng_state())
