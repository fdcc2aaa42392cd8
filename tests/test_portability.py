"""The code runs where POSIX-only modules do not exist (Windows): every module the notebooks
import, the runner and the submission script import with fcntl, resource, termios, pwd and grp
made unimportable, in a fresh interpreter."""
import os
import subprocess
import sys

import nbformat

import run_notebooks

POSIX_ONLY = ("fcntl", "resource", "termios", "pwd", "grp")


def test_notebook_modules_import_without_posix_only_modules():
    modules = set()
    for name in run_notebooks.NOTEBOOKS:
        nb = nbformat.read(os.path.join(run_notebooks.ROOT, name), as_version=4)
        modules |= {f[:-3] for f in run_notebooks.dependencies(nb) if f.endswith(".py")}
    modules |= {"run_notebooks", "make_submission", "authors", "best_model"}
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in POSIX_ONLY)
    code = (f"import sys; {blocked}\n"
            f"for m in {sorted(modules)!r}: __import__(m)\n"
            "import best_model; assert best_model.peak_memory_mib() is None\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=run_notebooks.ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
