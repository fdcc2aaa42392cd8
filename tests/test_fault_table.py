"""Every bad input and fault of tests/fault_table.py gives its outcome, and tests/FAULTS.md
shows them all as they are now."""
import os
import re

import pytest

from fault_table import CASES, outcome

FAULTS_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "FAULTS.md")
REGENERATE = "regenerate it: .venv/bin/python tests/fault_table.py > tests/FAULTS.md"


@pytest.mark.parametrize("section, what, trial, words", CASES, ids=[c[1] for c in CASES])
def test_each_bad_input_and_fault_gives_its_outcome(section, what, trial, words):
    assert re.search(words, outcome(trial)), outcome(trial)


def test_the_faults_page_lists_every_case_with_an_outcome_it_still_gives():
    with open(FAULTS_PAGE, encoding="utf-8") as f:
        rows = re.findall(r"^\| (\d+) \| (.+?): (.+?) \| (.+) \|$", f.read(), flags=re.M)
    assert [(s, w) for _, s, w, _ in rows] == [(c[0], c[1]) for c in CASES], REGENERATE
    for (_, _, _, shown), (_, what, _, words) in zip(rows, CASES):
        assert re.search(words, shown.replace("\\|", "|")), f"{what}: {REGENERATE}"
