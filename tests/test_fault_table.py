"""Every case of the bad-input and fault registry (tests/fault_table.py, tests/faults_*.py)
gives its outcome, and tests/FAULTS.md shows them all as they are now."""
import os
import re

import pytest

from fault_table import BAD_INPUTS, CASES, FAULTS, outcome

FAULTS_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "FAULTS.md")
REGENERATE = "regenerate it: .venv/bin/python tests/fault_table.py > tests/FAULTS.md"


@pytest.mark.parametrize("area, kind, what, trial, words", CASES,
                         ids=[f"{c[0]}: {c[2]}" for c in CASES])
def test_each_bad_input_and_fault_gives_its_outcome(area, kind, what, trial, words):
    assert kind in FAULTS + BAD_INPUTS, f"{what}: unknown class {kind!r}"
    text = outcome(trial)
    assert re.search(words, text), text


def test_the_registry_names_each_case_once():
    names = [(c[0], c[2]) for c in CASES]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_the_faults_page_lists_every_case_with_an_outcome_it_still_gives():
    with open(FAULTS_PAGE, encoding="utf-8") as f:
        rows = re.findall(r"^\| (\d+) \| (\w+) \| ([a-z ]+) \| (.+?) \| (.+) \|$", f.read(),
                          flags=re.M)
    assert [(a, k, w) for _, a, k, w, _ in rows] == [c[:3] for c in CASES], REGENERATE
    for row, case in zip(rows, CASES):
        assert re.search(case[4], row[4].replace("\\|", "|")), f"{case[2]}: {REGENERATE}"
