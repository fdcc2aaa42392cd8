"""decision_stumps.py against the arithmetic written out in writeup/writeup.tex (Problem 2)."""

import math
import pathlib
import sys
from fractions import Fraction as F

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import decision_stumps as ds  # noqa: E402


def H(q):
    return ds.binary_entropy(q)


def test_binary_entropy_edge_cases_and_maximum():
    assert H(0) == 0 and H(1) == 0  # 0 log 0 = 0
    assert H(0.5) == 1
    assert H(0.25) == pytest.approx(2 - 0.75 * math.log2(3), abs=1e-15)
    assert H(1 / 3) == pytest.approx(math.log2(3) - 2 / 3, abs=1e-15)
    grid = [i / 1000 for i in range(1001)]
    assert max(H(q) for q in grid) == 1
    assert all(H(q) <= 1 for q in grid)
    with pytest.raises(ValueError):
        H(1.5)


def test_node_costs_of_the_leaves():
    # Root (400, 400); leaves of A: (300, 100), (100, 300); of B: (200, 400), (200, 0).
    assert ds.misclassification((400, 400)) == F(1, 2)
    assert ds.misclassification((300, 100)) == F(1, 4)
    assert ds.misclassification((200, 400)) == F(1, 3)
    assert ds.misclassification((200, 0)) == 0
    assert ds.gini((400, 400)) == F(1, 2)
    assert ds.gini((300, 100)) == 2 * F(3, 4) * F(1, 4) == F(3, 8)
    assert ds.gini((200, 400)) == 2 * F(1, 3) * F(2, 3) == F(4, 9)
    assert ds.gini((200, 0)) == 0
    assert ds.entropy((400, 400)) == 1
    assert ds.entropy((100, 300)) == pytest.approx(H(1 / 4), abs=1e-15)
    assert ds.entropy((200, 400)) == pytest.approx(H(1 / 3), abs=1e-15)
    assert ds.entropy((200, 0)) == 0


def test_misclassification_reductions_are_a_tie():
    r = ds.results()["misclassification"]
    # A: 1/2 - (1/2 * 1/4 + 1/2 * 1/4) = 1/4;  B: 1/2 - (3/4 * 1/3 + 1/4 * 0) = 1/4
    assert r["A"]["after"] == F(1, 2) * F(1, 4) + F(1, 2) * F(1, 4) == F(1, 4)
    assert r["B"]["after"] == F(3, 4) * F(1, 3) + F(1, 4) * 0 == F(1, 4)
    assert r["A"]["reduction"] == F(1, 4)
    assert r["B"]["reduction"] == F(1, 4)
    assert ds.preferred("misclassification") == "tie"


def test_gini_reductions_prefer_b():
    r = ds.results()["gini"]
    # A: 1/2 - 3/8 = 1/8;  B: 1/2 - 3/4 * 4/9 = 1/2 - 1/3 = 1/6
    assert r["A"]["after"] == F(3, 8)
    assert r["B"]["after"] == F(3, 4) * F(4, 9) == F(1, 3)
    assert r["A"]["reduction"] == F(1, 8)
    assert r["B"]["reduction"] == F(1, 6)
    assert ds.preferred("gini") == "B"


def test_entropy_reductions_prefer_b():
    r = ds.results()["entropy"]
    # A: 1 - H(1/4) = (3/4) log2 3 - 1;  B: 1 - (3/4) H(1/3) = 3/2 - (3/4) log2 3
    assert r["A"]["reduction"] == pytest.approx(1 - H(1 / 4), abs=1e-12)
    assert r["B"]["reduction"] == pytest.approx(1 - 0.75 * H(1 / 3), abs=1e-12)
    assert r["A"]["reduction"] == pytest.approx(0.75 * math.log2(3) - 1, abs=1e-12)
    assert r["B"]["reduction"] == pytest.approx(1.5 - 0.75 * math.log2(3), abs=1e-12)
    assert round(r["A"]["reduction"], 4) == 0.1887
    assert round(r["B"]["reduction"], 4) == 0.3113
    assert round(r["A"]["after"], 4) == 0.8113
    assert round(r["B"]["after"], 4) == 0.6887
    for stump, (value, _tex) in ds.ENTROPY_REDUCTION_CLOSED_FORM.items():
        assert r[stump]["reduction"] == pytest.approx(value(), abs=1e-12)
    assert ds.preferred("entropy") == "B"


def test_children_must_partition_parent():
    with pytest.raises(ValueError):
        ds.reduction((400, 400), ((300, 100), (100, 200)), "gini")


def test_misclassification_never_increases_on_random_splits():
    """The claim proved in the writeup, checked on many random multi-class splits."""
    import random

    rng = random.Random(0)
    for _ in range(2000):
        k = rng.randint(2, 4)
        leaves = [tuple(rng.randint(0, 20) for _ in range(k)) for _ in range(rng.randint(1, 4))]
        leaves = [leaf for leaf in leaves if sum(leaf) > 0]
        if not leaves:
            continue
        parent = tuple(map(sum, zip(*leaves)))
        assert ds.reduction(parent, leaves, "misclassification") >= 0


def test_committed_tex_fragment_matches_script():
    fragment = ROOT / "writeup" / "generated" / "stumps.tex"
    assert fragment.read_text(encoding="utf-8") == ds.render_tex(), (
        "writeup/generated/stumps.tex is stale: run `make -C writeup`"
    )
    text = ds.render_tex()
    assert r"\newcommand{\stumpGiniRedB}{0.1667}" in text
    assert r"\newcommand{\stumpEntRedA}{0.1887}" in text
    assert r"\newcommand{\stumpMisPref}{tie}" in text
