"""run_notebooks.py on tiny notebooks: executes in this Python, saves outputs, exports HTML,
skips what is current, keeps quick runs away from the committed notebooks."""
import json
import os
import re
import sys

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import run_notebooks


def write_notebook(path, *sources, markdown="# title"):
    nb = new_notebook(cells=[new_markdown_cell(markdown)] + [new_code_cell(s) for s in sources])
    nbformat.write(nb, str(path))
    return nb


@pytest.fixture
def project(tmp_path):
    """A tiny project root: a module and a notebook that imports it."""
    (tmp_path / "helper.py").write_text("VALUE = 41 + 1\n")
    write_notebook(tmp_path / "Tiny.ipynb",
                   "import os, sys\nprint(os.environ['HW5_QUICK'], os.environ['OPENBLAS_NUM_THREADS'])\n"
                   "print(sys.executable)",
                   "import helper\nprint('value', helper.VALUE)")
    return tmp_path


def outputs(nb_path):
    nb = nbformat.read(str(nb_path), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_source_hash_follows_code_cells_and_modules_only(project):
    nb = nbformat.read(str(project / "Tiny.ipynb"), as_version=4)
    digest = run_notebooks.source_hash(nb, str(project))
    nb.cells[0].source = "# another title"
    assert run_notebooks.source_hash(nb, str(project)) == digest
    (project / "make_submission.py").write_text("# a tool, not notebook code\n")
    assert run_notebooks.source_hash(nb, str(project)) == digest
    (project / "helper.py").write_text("VALUE = 43\n")
    assert run_notebooks.source_hash(nb, str(project)) != digest
    changed = run_notebooks.source_hash(nb, str(project))
    nb.cells[1].source += "\n"
    assert run_notebooks.source_hash(nb, str(project)) != changed


def test_quick_mode_refuses_to_write_over_the_sources(project):
    with pytest.raises(ValueError, match="quick mode must not write over"):
        run_notebooks.run(["Tiny.ipynb"], quick=True, out_dir=str(project), root=str(project))


def test_default_quick_output_is_outside_the_root():
    assert os.path.commonpath([run_notebooks.QUICK_DIR, run_notebooks.ROOT]) == run_notebooks.ROOT
    assert run_notebooks.QUICK_DIR != run_notebooks.ROOT


def test_runs_saves_exports_then_skips_until_forced(project, capsys, monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    out = project / "out"
    times = run_notebooks.run(["Tiny.ipynb"], quick=True, out_dir=str(out), root=str(project))
    assert times["Tiny.ipynb"] > 0
    said = capsys.readouterr().out
    assert said.index("1 of 1 notebook(s) will run") < said.index("Tiny.ipynb: executing")
    assert "Tiny.ipynb: never run here" in said
    text = outputs(out / "Tiny.ipynb")
    assert f"1 1\n{sys.executable}\n" in text          # quick flag, one BLAS thread, this Python
    assert "value 42" in text                            # cwd is the project root
    assert "value 42" in said                             # outputs are echoed while running
    meta = nbformat.read(str(out / "Tiny.ipynb"), as_version=4).metadata["hw5"]
    assert meta["complete"] is True and meta["quick"] is True
    assert (out / "Tiny.html").read_text().count("value 42") >= 1
    assert outputs(project / "Tiny.ipynb") == ""         # the source is untouched

    assert run_notebooks.run(["Tiny.ipynb"], quick=True, out_dir=str(out),
                             root=str(project)) == {"Tiny.ipynb": None}
    said = capsys.readouterr().out
    assert "skipped" in said and "every notebook is current" in said
    plan = run_notebooks.plan(["Tiny.ipynb"], quick=True, out_dir=str(out), force=True,
                              root=str(project))
    assert "Tiny.ipynb: its last run took 0 min" in "\n".join(plan)
    # Another mode, or --force, runs it again.
    assert not run_notebooks.is_current(str(out / "Tiny.ipynb"),
                                        nbformat.read(str(project / "Tiny.ipynb"), as_version=4),
                                        quick=False, root=str(project))
    times = run_notebooks.run(["Tiny.ipynb"], quick=True, out_dir=str(out), root=str(project),
                              force=True)
    assert times["Tiny.ipynb"] > 0


def test_a_failing_cell_stops_the_run_and_is_saved_incomplete(project):
    write_notebook(project / "Broken.ipynb", "print('before')", "1 / 0", "print('never')")
    out = project / "out"
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        run_notebooks.run(["Broken.ipynb"], quick=True, out_dir=str(out), root=str(project))
    saved = nbformat.read(str(out / "Broken.ipynb"), as_version=4)
    assert saved.metadata["hw5"]["complete"] is False
    assert "before" in outputs(out / "Broken.ipynb") and "never" not in outputs(out / "Broken.ipynb")
    assert not (out / "Broken.html").exists()
    assert not run_notebooks.is_current(str(out / "Broken.ipynb"),
                                        nbformat.read(str(project / "Broken.ipynb"), as_version=4),
                                        quick=True, root=str(project))


def test_html_export_renders_math_offline_and_names_the_group(tmp_path, monkeypatch):
    (tmp_path / "AUTHORS").write_text("# comment\nAda Lovelace\nAlan Turing\n")
    monkeypatch.setattr(run_notebooks.authors, "AUTHORS_FILE", str(tmp_path / "AUTHORS"))
    path = tmp_path / "Math.ipynb"
    write_notebook(path, "print(1)", markdown="# Title\n\n**Group:** old\n\n"
                   "Inline $a_j = \\theta_j^T x$ and display $$\\frac{\\lambda}{2}\\|\\theta\\|^2$$")
    html = open(run_notebooks.export_html(str(path)), encoding="utf-8").read()
    assert html.count("<math") == 2 and 'display="block"' in html
    assert "$" not in html.split("<body", 1)[1].split("</body>")[0].replace("&#36;", "")
    assert not re.search(r"src=\"https?://", html) and "mathjax" not in html.lower()
    assert "Ada Lovelace and Alan Turing" in html
    assert "**Group:** Ada Lovelace and Alan Turing" in nbformat.read(str(path), 4).cells[0].source


def test_offline_math_leaves_escaped_dollars_and_plain_text():
    assert run_notebooks.offline_math("costs \\$5, no math") == "costs \\$5, no math"
    assert run_notebooks.offline_math("$x$").startswith("<math")


def test_hash_follows_imports_transitively_and_the_cython_source(tmp_path):
    (tmp_path / "a.py").write_text("import b\n\ndef later():\n    import lazy\n")
    (tmp_path / "b.py").write_text("try:\n    import ext\nexcept ImportError:\n    import c\n")
    for name in ("c.py", "lazy.py", "other.py"):
        (tmp_path / name).write_text("X = 1\n")
    (tmp_path / "ext.pyx").write_text('# cython\ncdef extern from "kernels.h":\n    pass\n')
    (tmp_path / "kernels.h").write_text("/* C */\n")
    nb = write_notebook(tmp_path / "N.ipynb", "%matplotlib inline\nimport numpy as np\nimport a")
    assert run_notebooks.dependencies(nb, str(tmp_path)) == ["a.py", "b.py", "c.py", "ext.pyx",
                                                             "kernels.h"]
    digest = run_notebooks.source_hash(nb, str(tmp_path))
    for unrelated in ("lazy.py", "other.py"):
        (tmp_path / unrelated).write_text("X = 2\n")
    assert run_notebooks.source_hash(nb, str(tmp_path)) == digest
    (tmp_path / "kernels.h").write_text("/* C, changed */\n")
    assert run_notebooks.source_hash(nb, str(tmp_path)) != digest
    digest = run_notebooks.source_hash(nb, str(tmp_path))
    (tmp_path / "ext.pyx").write_text('# cython, changed\ncdef extern from "kernels.h":\n    pass\n')
    assert run_notebooks.source_hash(nb, str(tmp_path)) != digest


# What README says: editing convnet.py, best_model.py or the Cython source reruns
# ConvolutionalNetworks alone; the fully connected notebooks never import them.
FAST_NET_FILES = ("convnet.py", "best_model.py", "fast_nhwc.py", "im2col_cython.pyx",
                  "nhwc_cython.pyx", "winograd_kernels.h")
CASES = [(notebook, filename, notebook == "ConvolutionalNetworks.ipynb")
         for notebook in run_notebooks.NOTEBOOKS for filename in FAST_NET_FILES]


@pytest.mark.parametrize("notebook, filename, depends", CASES)
def test_only_convolutional_networks_depends_on_the_fast_net_and_the_extension(
        notebook, filename, depends):
    nb = nbformat.read(os.path.join(run_notebooks.ROOT, notebook), as_version=4)
    assert (filename in run_notebooks.dependencies(nb)) == depends


def test_a_notebook_that_resumes_a_training_runs_it_first_in_full_mode(project, capsys,
                                                                        monkeypatch):
    (project / "trainer.py").write_text(
        "import os\nos.makedirs('ckpt', exist_ok=True)\n"
        "open('ckpt/net_epoch_3.npz', 'w').close()\nprint('trained')\n")
    monkeypatch.setitem(run_notebooks.PREREQUISITES, "Tiny.ipynb",
                        ("ckpt/net_epoch_{num_epochs}.npz", ["trainer.py"], "tiny"))
    monkeypatch.setattr(run_notebooks, "best_epochs", lambda: 3)
    assert run_notebooks.missing_prerequisite("Tiny.ipynb", quick=True, root=str(project)) is None
    assert run_notebooks.missing_prerequisite("Other.ipynb", quick=False, root=str(project)) is None
    assert run_notebooks.missing_prerequisite("Tiny.ipynb", quick=False,
                                              root=str(project)) == ["trainer.py"]

    out = project / "out"
    run_notebooks.run(["Tiny.ipynb"], quick=False, out_dir=str(out), root=str(project))
    said = capsys.readouterr().out
    assert "first `python trainer.py` trains what it resumes, on both cores" in said
    assert said.index("running it first") < said.index("Tiny.ipynb: executing")
    assert (project / "ckpt" / "net_epoch_3.npz").exists()
    # Trained: a forced rerun executes the notebook alone.
    run_notebooks.run(["Tiny.ipynb"], quick=False, out_dir=str(out), root=str(project), force=True)
    said = capsys.readouterr().out
    assert "trainer.py" not in said and "Tiny.ipynb: executing" in said


def test_without_a_budget_plan_the_training_runs_first_whatever_checkpoints_exist(project,
                                                                                   monkeypatch):
    """Before `experiments.py best` has written its budget plan the epochs it will train are
    unknown, so no checkpoint counts as its last: the command runs (it resumes what it can)."""
    (project / "ckpt").mkdir()
    (project / "ckpt" / "net_epoch_3.npz").write_text("")
    monkeypatch.setitem(run_notebooks.PREREQUISITES, "Tiny.ipynb",
                        ("ckpt/net_epoch_{num_epochs}.npz", ["trainer.py"], "tiny"))
    monkeypatch.setattr(run_notebooks, "best_epochs", lambda: None)
    assert run_notebooks.missing_prerequisite("Tiny.ipynb", quick=False,
                                              root=str(project)) == ["trainer.py"]
    monkeypatch.setattr(run_notebooks, "best_epochs", lambda: 3)
    assert run_notebooks.missing_prerequisite("Tiny.ipynb", quick=False, root=str(project)) is None


def test_the_plan_says_how_long_the_prerequisite_trained_and_on_which_cpu(project, monkeypatch):
    monkeypatch.setitem(run_notebooks.PREREQUISITES, "Tiny.ipynb",
                        ("ckpt/net_epoch_{num_epochs}.npz", ["trainer.py"], "tiny"))
    monkeypatch.setattr(run_notebooks, "best_epochs", lambda: 3)
    (project / "results").mkdir(exist_ok=True)
    record = {"meta": {"recorded": {"tiny": {"device": "2 x Some CPU"}}},
              "tiny": {"wall_time_s": 5640.0}}
    (project / "results" / "results.json").write_text(json.dumps(record))
    said = "\n".join(run_notebooks.plan(["Tiny.ipynb"], False, str(project), True, str(project)))
    assert ("first `python trainer.py` trains what it resumes, on both cores, about 94 min of "
            "training as recorded on 2 x Some CPU (other CPUs differ)") in said
    del record["meta"]
    (project / "results" / "results.json").write_text(json.dumps(record))
    said = "\n".join(run_notebooks.plan(["Tiny.ipynb"], False, str(project), True, str(project)))
    assert said.count("about 94 min of training as recorded\n") == 1
    (project / "results" / "results.json").write_text("{}")
    said = "\n".join(run_notebooks.plan(["Tiny.ipynb"], False, str(project), True, str(project)))
    assert "trains what it resumes, on both cores\n" in said


def test_the_plan_says_whether_searches_and_trainings_resume(tmp_path, monkeypatch):
    """The study database and the checkpoints decide it, not whether runs/ exists (quick mode
    makes runs/quick/ without any study of a full run)."""
    monkeypatch.delenv("HW5_SEARCH_STORAGE", raising=False)
    (tmp_path / "runs" / "quick").mkdir(parents=True)
    (tmp_path / "checkpoints").mkdir()
    line = run_notebooks.resume_line(str(tmp_path))
    assert "searches run from the start (no runs/search.db)" in line
    assert "trainings run from the start (no checkpoints/)" in line
    (tmp_path / "runs" / "search.db").write_bytes(b"")
    (tmp_path / "checkpoints" / "fc-0123_epoch_1.npz").write_bytes(b"")
    assert run_notebooks.resume_line(str(tmp_path)) == (
        "===   searches resume from runs/search.db; trainings resume from checkpoints/")
    monkeypatch.setenv("HW5_SEARCH_STORAGE", "postgresql://db/hw5")
    assert "searches resume from $HW5_SEARCH_STORAGE" in run_notebooks.resume_line(str(tmp_path))
