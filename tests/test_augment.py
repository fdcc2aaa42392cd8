"""augment.py: random translations and mirrors of a batch, and alternating flips that follow
the Solver's epoch (resumed runs included)."""
import numpy as np
import pytest

from augment import AlternatingFlips, mirrored_training_set, translate_and_flip
from conftest import killed_and_resumed

rng = np.random.default_rng(0)


def test_translate_and_flip_moves_each_image_by_at_most_two_pixels():
    x = rng.standard_normal((50, 3, 8, 8))
    out = translate_and_flip(x, np.random.default_rng(1))
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
    found = 0
    for i in range(50):
        views = [padded[i, :, a:a + 8, b:b + 8] for a in range(5) for b in range(5)]
        views += [v[:, :, ::-1] for v in views]
        found += any(np.array_equal(out[i], v) for v in views)
    assert found == 50 and not np.array_equal(out, x)
    assert np.array_equal(translate_and_flip(x, np.random.default_rng(1)), out)


def test_translate_without_flip_never_mirrors():
    x = rng.standard_normal((40, 3, 6, 6))
    assert np.array_equal(translate_and_flip(x, np.random.default_rng(2), shift=0, flip=False), x)
    mirrored = translate_and_flip(x, np.random.default_rng(2), shift=0)
    assert 5 < sum(np.array_equal(m, i[..., ::-1]) for m, i in zip(mirrored, x)) < 35


class _AtEpoch:
    def __init__(self, epoch):
        self.epoch = epoch


def test_alternating_flips_mirror_a_seeded_half_then_every_image_each_odd_epoch():
    x = rng.standard_normal((60, 2, 4, 5))
    data = x.copy()
    flips = AlternatingFlips(data, seed=4)
    start = np.array([not np.array_equal(d, i) for d, i in zip(data, x)])
    assert 15 < start.sum() < 45
    np.testing.assert_array_equal(data[start], x[start][..., ::-1])
    AlternatingFlips(again := x.copy(), seed=4)
    np.testing.assert_array_equal(again, data)
    for epoch in (1, 1, 2, 5, 4, 0):                  # idempotent; any epoch, as after resume
        flips(_AtEpoch(epoch))
        mirrored = start ^ bool(epoch % 2)
        np.testing.assert_array_equal(data[mirrored], x[mirrored][..., ::-1])
        np.testing.assert_array_equal(data[~mirrored], x[~mirrored])
    with pytest.raises(ValueError, match="X must be images"):
        AlternatingFlips(np.zeros((3, 4)))


def test_mirrored_training_set_mirrors_a_copy_and_leaves_the_rest():
    data = {"X_train": rng.standard_normal((20, 1, 2, 3)), "y_train": np.arange(20),
            "X_val": rng.standard_normal((4, 1, 2, 3))}
    given = data["X_train"].copy()
    mirrored, flips = mirrored_training_set(data, seed=1)
    assert flips.X is mirrored["X_train"] and mirrored["X_val"] is data["X_val"]
    assert not np.array_equal(mirrored["X_train"], given)
    np.testing.assert_array_equal(data["X_train"], given)


def test_flips_as_before_epoch_resume_a_solver_to_the_same_bits(tmp_path):
    """Solver(before_epoch=flips) mirrors at the start of every epoch, the first after a
    resume included, so a killed run resumes without any pairing by hand."""
    from fc_net import FullyConnectedNet
    from solver import Solver
    r = np.random.default_rng(3)
    data = {"X_train": r.standard_normal((30, 1, 2, 4)), "y_train": r.integers(10, size=30),
            "X_val": r.standard_normal((6, 1, 2, 4)), "y_val": r.integers(10, size=6)}
    seen = []

    def solver(name, after_epoch=None):
        flipped, flips = mirrored_training_set(data, seed=0)
        return Solver(FullyConnectedNet([6], input_dim=8, rng=0), flipped, update_rule="adam",
                      num_epochs=4, batch_size=10, verbose=False, seed=0, before_epoch=flips,
                      after_epoch=after_epoch, checkpoint_name=str(tmp_path / name))
    straight = solver("a", lambda s: seen.append(s.X_train[0].copy())).train()
    assert np.array_equal(seen[0], seen[1][..., ::-1]) and np.array_equal(seen[0], seen[2])
    assert killed_and_resumed(solver).loss_history == straight.loss_history
