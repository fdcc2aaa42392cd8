"""Record (or check) the SHA-256 of every writeup input and of the built PDF.

``make -C writeup`` runs ``record_sources.py --write`` after building, which
writes writeup/SOURCES.sha256.  tests/test_writeup.py recomputes the same list
with ``current_lines()`` and fails if it differs from the committed file, so a
source edited after the last build (a stale writeup.pdf) is caught.

Inputs: every .tex, .bib and .py file under writeup/ (outside build/), the
writeup Makefile, decision_stumps.py, AUTHORS and authors.py, and results/results.json (recorded as
"absent" when it does not exist).  The PDF is recorded too, so a PDF replaced
or left over from a different build is caught as well.
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib
import sys
from typing import List

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
RECORD = HERE / "SOURCES.sha256"
PDF = ROOT / "writeup.pdf"
EXTRA_INPUTS = ("decision_stumps.py", "results/results.json", "writeup/Makefile", "AUTHORS",
                "authors.py")


def source_paths() -> List[str]:
    """Repository-relative paths of all inputs, sorted."""
    paths = set(EXTRA_INPUTS)
    for pattern in ("*.tex", "*.bib", "*.py"):
        for p in HERE.rglob(pattern):
            rel = p.relative_to(HERE)
            if rel.parts[0] in ("build", "__pycache__"):
                continue
            paths.add(p.relative_to(ROOT).as_posix())
    return sorted(paths)


def digest(path: pathlib.Path) -> str:
    if not path.exists():
        return "absent"
    # Hash text with normalised line endings so a checkout with CRLF still matches.
    data = path.read_bytes()
    if path.suffix != ".pdf":
        data = data.replace(b"\r\n", b"\n")
    return hashlib.sha256(data).hexdigest()


def current_lines(include_pdf: bool = True) -> List[str]:
    lines = [f"{digest(ROOT / rel)}  {rel}" for rel in source_paths()]
    if include_pdf:
        lines.append(f"{digest(PDF)}  writeup.pdf")
    return lines


def render() -> str:
    return ("# SHA-256 of the writeup inputs and of the PDF built from them.\n"
            "# Written by `make -C writeup`; checked by tests/test_writeup.py.\n"
            + "\n".join(current_lines()) + "\n")


def recorded_lines() -> List[str]:
    if not RECORD.exists():
        return []
    return [ln for ln in RECORD.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write SOURCES.sha256")
    mode.add_argument("--check", action="store_true", help="exit 1 if SOURCES.sha256 is stale")
    args = parser.parse_args(argv)
    if args.write:
        RECORD.write_text(render(), encoding="utf-8")
        print(f"recorded {len(current_lines())} hashes in {RECORD.relative_to(ROOT)}")
        return 0
    stale = sorted(set(current_lines()) ^ set(recorded_lines()))
    for line in stale:
        print("differs:", line.split("  ", 1)[-1], file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
