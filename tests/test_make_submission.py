"""make_submission.py: the zip holds the tracked work and the built artefacts, and nothing
that the handout or the README keeps out (datasets, environments, build products)."""
import os
import subprocess
import zipfile

import pytest

import make_submission


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    """A small git repository shaped like this one, with things that must stay out."""
    tracked = ["layers.py", "tests/test_layers.py", "FullyConnectedNets.ipynb",
               "writeup/writeup.tex", "results/results.json", "README.md",
               "datasets/cifar-10-batches-py/data_batch_1",      # committed by mistake
               "checkpoints/convnet_epoch_1.pkl"]                # committed by mistake
    untracked = ["writeup.pdf", "FullyConnectedNets.html", "Dropout.html",
                 "ConvolutionalNetworks.html", "im2col_cython.cpython-311-x86_64-linux-gnu.so",
                 "im2col_cython.c", ".venv/bin/python", "build/temp/x.o", "runs/quick/Dropout.ipynb",
                 "writeup/build/writeup.aux", "notes.txt"]
    for path in tracked + untracked:
        full = tmp_path / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(f"contents of {path}\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-f", *tracked)
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    return tmp_path


def test_zip_holds_tracked_files_and_artefacts_only(repo, tmp_path):
    out = str(tmp_path / "sub.zip")
    files = make_submission.write_zip(out, root=str(repo))
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert zf.read("hw5/layers.py") == b"contents of layers.py\n"
    assert names == [f"hw5/{f}" for f in files]
    assert set(files) == {"layers.py", "tests/test_layers.py", "FullyConnectedNets.ipynb",
                          "writeup/writeup.tex", "results/results.json", "README.md",
                          "writeup.pdf", "FullyConnectedNets.html", "Dropout.html",
                          "ConvolutionalNetworks.html"}


def test_missing_artefacts_are_named(repo, tmp_path):
    os.remove(repo / "Dropout.html")
    with pytest.raises(FileNotFoundError, match="Dropout.html.*make notebooks"):
        make_submission.write_zip(str(tmp_path / "sub.zip"), root=str(repo))
    files = make_submission.submission_files(str(repo), require_artefacts=False)
    assert "Dropout.html" not in files and "writeup.pdf" in files


def test_a_huge_file_is_refused(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(make_submission, "MAX_FILE_BYTES", 10)
    with pytest.raises(ValueError, match="data does not belong"):
        make_submission.submission_files(str(repo))


@pytest.mark.parametrize("path, out", [
    ("datasets/x", True), ("a/.venv/b", True), ("writeup/build/w.log", True),
    ("checkpoints/c_epoch_1.pkl", True), ("im2col_cython.c", True), ("x.so", True),
    ("runs/quick/r.json", True), ("cifar-10-batches-py/test_batch", True),
    ("layers.py", False), ("writeup/sections/p4_answers.tex", False),
    ("ConvolutionalNetworks.ipynb", False), ("writeup.pdf", False)])
def test_exclusion_rules(path, out):
    assert make_submission.excluded(path) is out


def test_this_repository_builds_a_clean_zip(tmp_path):
    """Built in a temporary folder from the real checkout (artefacts optional here)."""
    out = str(tmp_path / "hw5.zip")
    files = make_submission.submission_files(require_artefacts=False)
    with zipfile.ZipFile(out, "w") as zf:
        for path in files:
            zf.write(os.path.join(make_submission.ROOT, path), f"hw5/{path}")
    tracked_py = [p for p in make_submission.tracked_files(make_submission.ROOT)
                  if p.endswith(".py")]
    assert set(tracked_py) <= set(files)
    assert {"README.md", "Makefile", "requirements.txt", "setup.py",
            "im2col_cython.pyx"} <= set(files)
    assert not any(make_submission.excluded(p) for p in files)
    assert os.path.getsize(out) < 50 << 20


def test_main_refuses_the_placeholder_unless_drafting(tmp_path, monkeypatch, capsys):
    written = []
    monkeypatch.setattr(make_submission, "write_zip",
                        lambda out, root: (written.append(out), open(out, "wb").close(), ["a.py"])[2])
    monkeypatch.setattr(make_submission.authors, "AUTHORS_FILE", str(tmp_path / "AUTHORS"))
    (tmp_path / "AUTHORS").write_text(make_submission.authors.PLACEHOLDER + "\n")
    with pytest.raises(SystemExit) as refused:
        make_submission.main(["--out", str(tmp_path / "hw5.zip")])
    assert "AUTHORS" in str(refused.value) and "--draft" in str(refused.value)
    assert written == []
    make_submission.main(["--draft", "--out", str(tmp_path / "draft.zip")])
    assert written == [str(tmp_path / "draft.zip")]
    assert "DRAFT" in capsys.readouterr().err
    (tmp_path / "AUTHORS").write_text("Ada Lovelace\n")
    make_submission.main(["--out", str(tmp_path / "hw5.zip")])
    assert written[-1] == str(tmp_path / "hw5.zip")
    assert "DRAFT" not in capsys.readouterr().err


def test_a_draft_is_named_as_one_by_default(monkeypatch, tmp_path):
    written = []
    monkeypatch.setattr(make_submission, "write_zip",
                        lambda out, root: (written.append(out), open(out, "wb").close(), [])[2])
    monkeypatch.setattr(make_submission, "ROOT", str(tmp_path))
    monkeypatch.setattr(make_submission.authors, "AUTHORS_FILE", str(tmp_path / "AUTHORS"))
    (tmp_path / "AUTHORS").write_text(make_submission.authors.PLACEHOLDER + "\n")
    make_submission.main(["--draft"])
    assert written == [os.path.join(str(tmp_path), "hw5_draft.zip")]


def test_a_plain_folder_without_git_is_packed_too(repo, tmp_path, monkeypatch, capsys):
    import shutil
    folder = tmp_path / "unzipped"
    shutil.copytree(repo, folder, ignore=shutil.ignore_patterns(".git"))
    assert make_submission.tracked_files(str(folder)) is None
    files = make_submission.submission_files(str(folder))
    assert "layers.py" in files and "notes.txt" in files          # untracked files count here
    assert not any(make_submission.excluded(p) for p in files)
    assert make_submission.left_out(make_submission.folder_files(str(folder))) == [
        ".venv/", "build/", "checkpoints/", "datasets/", "im2col_cython.c",
        "im2col_cython.cpython-311-x86_64-linux-gnu.so", "runs/", "writeup/build/"]
    monkeypatch.setattr(make_submission, "ROOT", str(folder))
    make_submission.main(["--draft", "--out", str(tmp_path / "hw5.zip")])
    out = capsys.readouterr().out
    assert "from the folder" in out and "left out" in out and ".venv/" in out
    assert "layers.py" in out and "notes.txt" in out                  # what it packed
    with zipfile.ZipFile(tmp_path / "hw5.zip") as zf:
        assert "hw5/layers.py" in zf.namelist()
