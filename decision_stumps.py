"""Problem 2 of the writeup: impurity of the two decision stumps A and B.

The data set has 400 points of class C1 and 400 of class C2.  Stump A splits it
into leaves (300, 100) and (100, 300); stump B into (200, 400) and (200, 0),
where (n, m) means n points of C1 and m points of C2.

For each of three node-cost measures (misclassification rate, entropy in bits,
Gini index) this computes the cost of the root, the weighted cost of the two
leaves (each leaf weighted by the fraction of points that reach it), and the
reduction in cost achieved by the split.  Misclassification rate and Gini index
are rational for integer counts and are computed exactly with Fraction; entropy
is computed in floating point.

Run it to print the table.  With ``--tex PATH`` it also writes a LaTeX
fragment of macros and a table that the writeup \\input's, so the numbers in
the PDF always come from this file.
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction
from typing import Callable, Dict, Sequence, Tuple, Union

Number = Union[Fraction, float]
Counts = Tuple[int, ...]

PARENT: Counts = (400, 400)
STUMPS: Dict[str, Tuple[Counts, ...]] = {
    "A": ((300, 100), (100, 300)),
    "B": ((200, 400), (200, 0)),
}


def _proportions(counts: Sequence[int]) -> Tuple[Fraction, ...]:
    total = sum(counts)
    if total <= 0 or any(c < 0 for c in counts):
        raise ValueError(f"need non-negative counts with a positive total, got {counts}")
    return tuple(Fraction(c, total) for c in counts)


def misclassification(counts: Sequence[int]) -> Fraction:
    """Error rate of predicting the majority class: 1 - max_k p_k."""
    return 1 - max(_proportions(counts))


def gini(counts: Sequence[int]) -> Fraction:
    """Gini index 1 - sum_k p_k^2 (equal to 2 p (1 - p) for two classes)."""
    return 1 - sum(p * p for p in _proportions(counts))


def entropy(counts: Sequence[int]) -> float:
    """Entropy in bits, -sum_k p_k log2 p_k, with the convention 0 log 0 = 0."""
    return -sum(float(p) * math.log2(p) for p in _proportions(counts) if p > 0)


def binary_entropy(q: float) -> float:
    """H(q) = -q log2 q - (1 - q) log2 (1 - q), with 0 log 0 = 0."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must lie in [0, 1], got {q}")
    return -sum(t * math.log2(t) for t in (q, 1 - q) if t > 0)


CRITERIA: Dict[str, Callable[[Sequence[int]], Number]] = {
    "misclassification": misclassification,
    "entropy": entropy,
    "gini": gini,
}


def split_cost(children: Sequence[Sequence[int]], criterion: str) -> Number:
    """Cost after the split: sum over leaves of (leaf size / total) * leaf cost."""
    cost = CRITERIA[criterion]
    total = sum(sum(child) for child in children)
    return sum(Fraction(sum(child), total) * cost(child) for child in children)


def reduction(parent: Sequence[int], children: Sequence[Sequence[int]], criterion: str) -> Number:
    """Cost of the parent minus the weighted cost of its children."""
    if tuple(map(sum, zip(*children))) != tuple(parent):
        raise ValueError(f"children {children} do not partition parent {parent}")
    return CRITERIA[criterion](parent) - split_cost(children, criterion)


def results() -> Dict[str, Dict[str, Dict[str, Number]]]:
    """{criterion: {stump: {"parent", "after", "reduction"}}} for stumps A and B."""
    out: Dict[str, Dict[str, Dict[str, Number]]] = {}
    for criterion, cost in CRITERIA.items():
        out[criterion] = {}
        for name, children in STUMPS.items():
            out[criterion][name] = {
                "parent": cost(PARENT),
                "after": split_cost(children, criterion),
                "reduction": reduction(PARENT, children, criterion),
            }
    return out


def preferred(criterion: str, tol: float = 1e-12) -> str:
    """'A', 'B' or 'tie': the stump with the larger reduction in cost."""
    res = results()[criterion]
    a, b = res["A"]["reduction"], res["B"]["reduction"]
    if abs(a - b) <= tol:
        return "tie"
    return "A" if a > b else "B"


NAMES = {"misclassification": "Misclassification rate", "entropy": "Entropy (bits)", "gini": "Gini index"}
MACRO_KEYS = {"misclassification": "Mis", "entropy": "Ent", "gini": "Gini"}


def _fmt(x: Number) -> str:
    return f"{float(x):.4f}"


# Closed forms of the two entropy reductions, derived by hand in the writeup:
#   A: 1 - H(1/4)       = 1 - (2 - (3/4) log2 3) = (3/4) log2 3 - 1
#   B: 1 - (3/4) H(1/3) = 1 - (3/4)(log2 3 - 2/3) = 3/2 - (3/4) log2 3
# Checked numerically against the direct computation in ``results()`` by the tests.
ENTROPY_REDUCTION_CLOSED_FORM = {
    "A": (lambda: 0.75 * math.log2(3) - 1, r"\tfrac{3}{4}\log_2 3 - 1"),
    "B": (lambda: 1.5 - 0.75 * math.log2(3), r"\tfrac{3}{2} - \tfrac{3}{4}\log_2 3"),
}


def exact_tex(criterion: str, stump: str, key: str) -> str:
    """Exact value in LaTeX: a fraction, or the entropy closed form above."""
    val = results()[criterion][stump][key]
    if isinstance(val, Fraction):
        return str(val.numerator) if val.denominator == 1 else rf"\tfrac{{{val.numerator}}}{{{val.denominator}}}"
    if criterion == "entropy" and key == "reduction":
        return ENTROPY_REDUCTION_CLOSED_FORM[stump][1]
    if criterion == "entropy" and key == "parent":
        return "1"
    return _fmt(val)


def render_table() -> str:
    """Rows: criterion, stump, root cost, cost after split, reduction (exact, decimal), preferred."""
    lines = []
    for criterion, by_stump in results().items():
        pref = preferred(criterion)
        for name in ("A", "B"):
            row = by_stump[name]
            cells = [
                NAMES[criterion] if name == "A" else "",
                name,
                _fmt(row["parent"]),
                _fmt(row["after"]),
                f"${exact_tex(criterion, name, 'reduction')}$",
                _fmt(row["reduction"]),
                ("tie" if pref == "tie" else pref) if name == "A" else "",
            ]
            lines.append(" & ".join(cells) + r" \\")
        lines.append(r"\addlinespace")
    lines.pop()
    return "\n".join(lines)


def render_tex() -> str:
    """Macros \\stump<Crit><Quantity><Stump> plus the body of the summary table."""
    out = [
        "% Generated by decision_stumps.py -- do not edit; run `make -C writeup`.",
    ]
    quantity = {"parent": "Root", "after": "After", "reduction": "Red"}
    for criterion, by_stump in results().items():
        for name, row in by_stump.items():
            for key, val in row.items():
                macro = rf"\stump{MACRO_KEYS[criterion]}{quantity[key]}{name}"
                out.append(rf"\newcommand{{{macro}}}{{{_fmt(val)}}}")
        pref = preferred(criterion)
        out.append(rf"\newcommand{{\stump{MACRO_KEYS[criterion]}Pref}}{{{pref}}}")
    out.append(r"\newcommand{\stumpTableBody}{%")
    out.append(render_table())
    out.append("}")
    return "\n".join(out) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tex", metavar="PATH", help="also write the LaTeX fragment here")
    args = parser.parse_args(argv)

    print(f"root (C1, C2) = {PARENT}; stumps: " + "; ".join(f"{k} = {v}" for k, v in STUMPS.items()))
    header = f"{'criterion':<24}{'stump':<7}{'root':>10}{'after':>10}{'reduction':>12}"
    print(header)
    print("-" * len(header))
    for criterion, by_stump in results().items():
        for name, row in by_stump.items():
            print(f"{NAMES[criterion]:<24}{name:<7}" + "".join(
                f"{_fmt(row[k]):>{w}}" for k, w in (("parent", 10), ("after", 10), ("reduction", 12))))
        print(f"{'':<24}preferred: {preferred(criterion)}")
    if args.tex:
        with open(args.tex, "w", encoding="utf-8") as fh:
            fh.write(render_tex())
        print(f"wrote {args.tex}")


if __name__ == "__main__":
    main()
