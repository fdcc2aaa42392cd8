"""Write the submission zip the handout asks for, and list the three attachments.

    python make_submission.py            # -> hw5_submission.zip (or `make submission`)
    python make_submission.py --draft    # -> hw5_draft.zip, even before AUTHORS is filled in

The handout wants three separate attachments: writeup.pdf, each notebook saved
as HTML, and a zip of the work without the datasets. The zip holds every file
git tracks (code, tests, notebooks with their outputs, writeup sources) plus
the built artefacts (writeup.pdf and the notebooks' HTML), all under hw5/.
Outside a git checkout (an unpacked zip) it holds every file in the folder
instead, minus the same exclusions; either way it lists what it left out.
Datasets, virtual environments, build products (compiled extensions, the
generated C file, LaTeX build folders) and training checkpoints never go in,
even if someone commits one by mistake.
"""
import argparse
import fnmatch
import os
import subprocess
import sys
import textwrap
import zipfile

import authors

ROOT = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = ("FullyConnectedNets", "Dropout", "ConvolutionalNetworks")
ARTEFACTS = ("writeup.pdf",) + tuple(f"{name}.html" for name in NOTEBOOKS)
EXCLUDED_DIRS = ("datasets", ".venv", "venv", "build", "checkpoints", "runs", "__pycache__",
                 ".pytest_cache", ".ipynb_checkpoints", "hw5.egg-info")
EXCLUDED_FILES = ("*.so", "*.pyd", "*.o", "*.pyc", "*.pkl", "*.npz", "*.zip", "*.tar.gz", "*.tmp", "*.lock",
                  "im2col_cython.c", "nhwc_cython.c", "data_batch_*", "test_batch", "batches.meta")
# Notebooks with their plots run to a few MB; a file over 20 MB is data.
MAX_FILE_BYTES = 20 << 20


def excluded(path):
    """Whether a repository-relative path must stay out of the zip."""
    parts = path.split("/")
    return (any(part in EXCLUDED_DIRS for part in parts[:-1])
            or any(fnmatch.fnmatch(parts[-1], pattern) for pattern in EXCLUDED_FILES))


def left_out(paths):
    """The excluded ones among paths, each excluded folder named once ('.venv/')."""
    out = set()
    for path in paths:
        if excluded(path):
            parts = path.split("/")
            folder = next((i for i, part in enumerate(parts[:-1]) if part in EXCLUDED_DIRS), None)
            out.add(path if folder is None else "/".join(parts[:folder + 1]) + "/")
    return sorted(out)


def tracked_files(root):
    """The files git tracks in root, or None when root is not the top of a git checkout
    (no git, no repository, or a folder unpacked inside someone else's repository)."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        if os.path.realpath(top) != os.path.realpath(root):
            return None
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return [p for p in out.stdout.decode().split("\0") if p]


def folder_files(root):
    """Every file under root, repository-relative with '/' separators."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        rel = os.path.relpath(folder, root)
        found += [f if rel == "." else f"{rel}/{f}".replace(os.sep, "/") for f in files]
    return found


def candidate_files(root):
    """(files the zip may hold, where they came from): git's tracked files, else the folder's."""
    tracked = tracked_files(root)
    return (tracked, "git ls-files") if tracked is not None else (folder_files(root), "the folder")


def submission_files(root=ROOT, require_artefacts=True):
    """Sorted repository-relative paths that go into the zip.

    Raises FileNotFoundError naming the missing artefacts (and how to build them)
    when require_artefacts and one of ARTEFACTS does not exist.
    """
    missing = [a for a in ARTEFACTS if not os.path.isfile(os.path.join(root, a))]
    if missing and require_artefacts:
        raise FileNotFoundError(f"missing {', '.join(missing)}: build them first with "
                                f"`make notebooks` (HTML) and `make writeup` (writeup.pdf)")
    files = set(candidate_files(root)[0]) | {a for a in ARTEFACTS if a not in missing}
    keep = []
    for path in sorted(files):
        full = os.path.join(root, path)
        if excluded(path) or not os.path.isfile(full):
            continue
        if os.path.getsize(full) > MAX_FILE_BYTES:
            raise ValueError(f"{path} is {os.path.getsize(full) >> 20} MB: data does not belong "
                             f"in the submission")
        keep.append(path)
    return keep


def write_zip(out, root=ROOT, require_artefacts=True, prefix="hw5"):
    """Write the zip to out; returns the list of paths it holds (relative to the repository)."""
    files = submission_files(root, require_artefacts)
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(os.path.join(root, path), f"{prefix}/{path}")
    os.replace(tmp, out)
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None,
                        help="where to write the zip (default hw5_submission.zip, or "
                             "hw5_draft.zip with --draft)")
    parser.add_argument("--draft", action="store_true",
                        help="write a draft zip even while AUTHORS holds the placeholder")
    args = parser.parse_args(argv)
    unnamed = authors.is_placeholder(authors.read_authors())
    if unnamed and not args.draft:
        sys.exit(f"make_submission: AUTHORS ({authors.AUTHORS_FILE}) still holds the placeholder "
                 f"{authors.PLACEHOLDER!r}: put your group's names in it, one per line, then "
                 f"rebuild the writeup (`make writeup`) and the HTML (`python run_notebooks.py "
                 f"--export`) and run this again; `--draft` (make draft) writes hw5_draft.zip "
                 f"without names")
    if args.out is None:
        args.out = os.path.join(ROOT, "hw5_draft.zip" if args.draft else "hw5_submission.zip")
    try:
        files = write_zip(args.out, root=ROOT)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"make_submission: {error}")
    size = os.path.getsize(args.out)
    listed, source = candidate_files(ROOT)
    print(f"wrote {args.out}: {len(files)} files from {source}, {size / 1e6:.1f} MB:")
    print(textwrap.fill(", ".join(files), width=100, initial_indent="  ", subsequent_indent="  "))
    skipped = left_out(listed)
    if skipped:
        print("left out (data, environments, build products, checkpoints): " + ", ".join(skipped))
    if unnamed:
        print("DRAFT: AUTHORS still holds the placeholder; this zip is not for submitting",
              file=sys.stderr)
    print("Submit these three kinds of attachments separately:")
    print(f"  1. {os.path.join(ROOT, 'writeup.pdf')}")
    for name in NOTEBOOKS:
        print(f"  2. {os.path.join(ROOT, name + '.html')}")
    print(f"  3. {args.out}")


if __name__ == "__main__":
    main()
