"""Execute the notebooks headlessly, save them with their outputs, export HTML.

    python run_notebooks.py                 # all three, full data, in place
    HW5_QUICK=1 python run_notebooks.py     # quick mode: small subsets, into runs/quick/
    python run_notebooks.py --force Dropout.ipynb
    python run_notebooks.py --export        # only re-export the HTML (e.g. after editing AUTHORS)

Each notebook runs in a fresh kernel of this Python (so the virtual environment's
packages), with the working directory at the repository root. Cell outputs are
echoed to the terminal while they arrive, so long trainings show their progress.

Resuming: an executed notebook records in its metadata a hash of its code cells
and of what they depend on: the modules beside it that they import, directly or
through each other, and the Cython source when the compiled extension is among
them. A notebook whose saved outputs match the current hash (and mode) is
skipped unless --force is given, so editing convnet.py reruns only
ConvolutionalNetworks, the one notebook that imports it; and the long trainings resume from the Solver checkpoints in
checkpoints/ when a run was cut short.

Long trainings run first: before ConvolutionalNetworks (full mode), `python experiments.py
best` trains the best model on both cores when its last epoch's checkpoint is missing
(PREREQUISITES), and the notebook then resumes it instead of training it on its kernel's one
BLAS thread. The plan printed before anything runs says so.

Quick mode never writes the committed notebooks: its notebooks, HTML and
results.json go to runs/quick/ (or --out-dir).

The HTML export is self-contained for a grader without network: the math of the
markdown cells is converted to MathML (which browsers render natively) instead
of being left to MathJax from a CDN, and the title cell's '**Group:**' line is
set from AUTHORS.
"""
import argparse
import ast
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import time

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from latex2mathml.converter import convert as latex_to_mathml
from nbconvert import HTMLExporter

import authors
from runs import QUICK_ENV, ROOT, SEARCH_STORAGE_ENV, quick_mode, search_db_path
NOTEBOOKS = ("FullyConnectedNets.ipynb", "Dropout.ipynb", "ConvolutionalNetworks.ipynb")
QUICK_DIR = os.path.join(ROOT, "runs", "quick")
METADATA_KEY = "hw5"
CELL_TIMEOUT = 3 * 3600    # the longest cell trains the ConvNet for about an hour
# One BLAS thread unless told otherwise: on a 2-core machine shared with other
# work, OpenBLAS threads that spin waiting for a busy core make a matrix product
# 10-20x slower; one thread also makes floating-point sums, and so reruns, repeatable.
DEFAULT_THREADS = "1"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def imported_names(source):
    """Names of the modules that Python source imports when it runs: its module-level
    import statements (also under if/try), not those inside functions, which run only
    when called. IPython magics are skipped."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    names = set()
    todo = list(ast.parse(code).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.If, ast.Try, ast.ExceptHandler, ast.With)):
            todo.extend(ast.iter_child_nodes(node))
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def dependencies(nb, root=ROOT):
    """Sorted files in root that nb's code cells import, directly or through each other:
    '<name>.py' for a module, '<name>.pyx' for a compiled extension built from one, and
    the C headers in root that a .pyx includes (cdef extern from "<header>")."""
    found, todo = set(), set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            todo |= imported_names(cell.source)
    while todo:
        name = todo.pop()
        for filename in (f"{name}.py", f"{name}.pyx"):
            path = os.path.join(root, filename)
            if filename not in found and os.path.isfile(path):
                found.add(filename)
                with open(path, encoding="utf-8") as f:
                    source = f.read()
                if filename.endswith(".py"):
                    todo |= imported_names(source)
                else:                      # the C headers the compiled loops include
                    found |= {h for h in re.findall(r'cdef extern from "([\w.]+)"', source)
                              if os.path.isfile(os.path.join(root, h))}
    return sorted(found)


def source_hash(nb, root=ROOT):
    """SHA-256 of the notebook's code cells and of the files in root they depend on."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode() + b"\0")
    for filename in dependencies(nb, root):
        digest.update(filename.encode() + b"\0")
        with open(os.path.join(root, filename), "rb") as f:
            digest.update(f.read().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def is_current(path, source_nb, quick, root=ROOT):
    """Whether path holds an execution of source_nb's code, in this mode, that finished."""
    if not os.path.exists(path):
        return False
    done = nbformat.read(path, as_version=4).metadata.get(METADATA_KEY, {})
    return (done.get("source_sha256") == source_hash(source_nb, root)
            and done.get("quick") == quick and done.get("complete") is True)


class _ThisPythonKernels(KernelSpecManager):
    """Every kernel name resolves to an IPython kernel of the running interpreter.

    So the notebooks see this environment's packages whatever kernelspecs are
    installed (or not) on the machine.
    """

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                "{connection_file}"],
                          display_name="Python 3 (hw5)", language="python",
                          resource_dir=ROOT)


class EchoingClient(NotebookClient):
    """A NotebookClient that also prints each cell's stream output as it arrives."""

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if msg["msg_type"] == "stream":
            sys.stdout.write(msg["content"]["text"])
            sys.stdout.flush()
        elif msg["msg_type"] == "error":
            sys.stdout.write("\n".join(msg["content"]["traceback"]) + "\n")
        return out


def execute(source_path, out_path, quick, root=ROOT, timeout=CELL_TIMEOUT):
    """Run source_path top to bottom, write it with outputs to out_path; returns seconds."""
    nb = nbformat.read(source_path, as_version=4)
    digest = source_hash(nb, root)
    env = dict(os.environ, **{QUICK_ENV: "1" if quick else "0"})
    for name in THREAD_VARIABLES:
        env.setdefault(name, os.environ.get("HW5_THREADS", DEFAULT_THREADS))
    if quick:
        env.setdefault("HW5_RESULTS", os.path.join(os.path.dirname(out_path), "results.json"))
    km = KernelManager(kernel_name="python3", kernel_spec_manager=_ThisPythonKernels())
    client = EchoingClient(nb, km=km, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": root}})
    start = time.time()
    complete = False
    try:
        # The kernel starts in root (resources' path) with env; we own km, so we stop it.
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    print(f"--- [{os.path.basename(source_path)} cell {index}] "
                          f"{cell.source.splitlines()[0] if cell.source else ''}", flush=True)
                client.execute_cell(cell, index)
        complete = True
    finally:
        elapsed = time.time() - start
        nb.metadata[METADATA_KEY] = {"source_sha256": digest, "quick": quick,
                                     "complete": complete, "wall_time_s": round(elapsed, 1),
                                     "executed": time.strftime("%Y-%m-%d %H:%M:%S")}
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
        nbformat.write(nb, out_path + ".tmp")
        os.replace(out_path + ".tmp", out_path)
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return elapsed


DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$")
MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>")


def offline_math(markdown):
    """markdown with every $$...$$ and $...$ replaced by the equivalent MathML."""
    markdown = DISPLAY_MATH.sub(lambda m: latex_to_mathml(m.group(1), display="block"), markdown)
    return INLINE_MATH.sub(lambda m: latex_to_mathml(m.group(1)), markdown)


def stamp_authors(nb_path):
    """Set the title cell's '**Group:**' line from AUTHORS, in the notebook file itself."""
    nb = nbformat.read(nb_path, as_version=4)
    title = nb.cells[0]
    stamped = authors.stamp_group(title.source, authors.read_authors())
    if title.cell_type == "markdown" and stamped != title.source:
        title.source = stamped
        nbformat.write(nb, nb_path + ".tmp")
        os.replace(nb_path + ".tmp", nb_path)


def export_html(nb_path):
    """Stamp the authors, then write nb_path's self-contained HTML beside it; returns its path."""
    stamp_authors(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = offline_math(cell.source)
    body, _ = HTMLExporter().from_notebook_node(nb)
    body, found = MATHJAX_BLOCK.subn("", body)
    if found != 1:
        raise RuntimeError("nbconvert's template changed: no MathJax block to remove")
    body = REMOTE_SCRIPT.sub("", body)      # require.js serves widgets, which we have none of
    html_path = os.path.splitext(nb_path)[0] + ".html"
    with open(html_path + ".tmp", "w", encoding="utf-8") as f:
        f.write(body)
    os.replace(html_path + ".tmp", html_path)
    return html_path


def last_run_seconds(path):
    """Seconds the execution saved at path took (None: never run, or no record)."""
    if not os.path.exists(path):
        return None
    return nbformat.read(path, as_version=4).metadata.get(METADATA_KEY, {}).get("wall_time_s")


# A notebook that resumes a long training: before it runs (full mode), that training runs as
# its own process on both cores when its last epoch's checkpoint is missing, so the notebook's
# kernel (one BLAS thread) only reads it. name: (checkpoint glob, command, results key).
PREREQUISITES = {"ConvolutionalNetworks.ipynb": (
    "checkpoints/best-*_epoch_{num_epochs}.npz", ["experiments.py", "best"], "best_model")}


def best_epochs():
    """The number of epochs `experiments.py best` trains on this machine: those of the budget
    plan it wrote (best_model.planned_epochs); None before it has made one."""
    import best_model       # numpy and the layers: imported only when a plan needs them
    return best_model.planned_epochs()


def missing_prerequisite(name, quick, root=ROOT):
    """The command (list) that must run before notebook name, or None: none in quick mode,
    none when the notebook has no prerequisite or its final checkpoint exists in root (without
    a budget plan the epochs, and so the final checkpoint, are unknown: the command runs)."""
    if quick or name not in PREREQUISITES:
        return None
    pattern, command, _ = PREREQUISITES[name]
    epochs = best_epochs()
    done = epochs is not None and glob.glob(os.path.join(root, pattern.format(num_epochs=epochs)))
    return None if done else command


def prerequisite_record(name, root=ROOT):
    """(minutes, device) of the prerequisite's recorded run in results/results.json: how long
    it trained and on which CPU (None when not recorded); None when there is no such run."""
    key = PREREQUISITES[name][2]
    try:
        with open(os.path.join(root, "results", "results.json")) as f:
            results = json.load(f)
        minutes = results[key]["wall_time_s"] / 60
        device = results.get("meta", {}).get("recorded", {}).get(key, {}).get("device")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return minutes, device


def resume_line(root=ROOT):
    """What a full run can resume: the searches' studies (runs/search.db, unless
    $HW5_SEARCH_STORAGE names another database) and the trainings' checkpoints."""
    if os.environ.get(SEARCH_STORAGE_ENV):
        searches = f"searches resume from ${SEARCH_STORAGE_ENV}"
    elif os.path.isfile(search_db_path(root)):
        searches = "searches resume from runs/search.db"
    else:
        searches = "searches run from the start (no runs/search.db), an hour or more in all"
    trainings = ("trainings resume from checkpoints/"
                 if glob.glob(os.path.join(root, "checkpoints", "*.npz"))
                 else "trainings run from the start (no checkpoints/)")
    return f"===   {searches}; {trainings}"


def plan(names, quick, out_dir, force, root=ROOT):
    """The lines that say, before anything runs, which notebooks will execute and about how
    long they took last time; resumable work (runs/, checkpoints/) shortens them."""
    stale = [name for name in names if force or not is_current(
        os.path.join(out_dir, os.path.basename(name)),
        nbformat.read(os.path.join(root, name), as_version=4), quick, root)]
    if not stale:
        return ["=== every notebook is current: nothing to run (--force reruns them)"]
    lines = [f"=== {len(stale)} of {len(names)} notebook(s) will run "
             f"({'quick' if quick else 'full'} mode), one after the other:"]
    for name in stale:
        seconds = last_run_seconds(os.path.join(out_dir, os.path.basename(name)))
        took = "never run here" if seconds is None else f"its last run took {seconds / 60:.0f} min"
        lines.append(f"===   {name}: {took}")
        command = missing_prerequisite(name, quick, root)
        if command:
            record = prerequisite_record(name, root)
            about = "" if record is None else (
                f", about {record[0]:.0f} min of training as recorded"
                + (f" on {record[1]} (other CPUs differ)" if record[1] else ""))
            lines.append(f"===     first `python {' '.join(command)}` trains what it resumes, "
                         f"on both cores{about}")
    if not quick:
        lines.append(resume_line(root))
    return lines


def run(names=NOTEBOOKS, quick=None, out_dir=None, force=False, root=ROOT, timeout=CELL_TIMEOUT):
    """Execute and export each notebook unless its saved outputs are current, after printing
    which will run (plan).

    Returns {name: seconds spent executing, or None when skipped}.
    """
    quick = quick_mode() if quick is None else quick
    out_dir = out_dir or (QUICK_DIR if quick else root)
    if quick and os.path.abspath(out_dir) == os.path.abspath(root):
        raise ValueError("quick mode must not write over the committed notebooks; "
                         "give another --out-dir")
    print("\n".join(plan(names, quick, out_dir, force, root)), flush=True)
    times = {}
    for name in names:
        source = os.path.join(root, name)
        target = os.path.join(out_dir, os.path.basename(name))
        if not force and is_current(target, nbformat.read(source, as_version=4), quick, root):
            print(f"=== {name}: outputs are current, skipped (--force reruns it)")
            times[name] = None
            continue
        command = missing_prerequisite(name, quick, root)
        if command:
            print(f"=== {name} resumes `python {' '.join(command)}`: running it first", flush=True)
            subprocess.run([sys.executable, *command], cwd=root, check=True)
        print(f"=== {name}: executing ({'quick' if quick else 'full'} mode) -> "
              f"{os.path.relpath(target, root)}", flush=True)
        times[name] = execute(source, target, quick, root, timeout)
        html = export_html(target)
        print(f"=== {name}: done in {times[name]:.0f}s; wrote {os.path.relpath(html, root)}",
              flush=True)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", default=list(NOTEBOOKS))
    parser.add_argument("--quick", action="store_true", help="same as HW5_QUICK=1")
    parser.add_argument("--out-dir", default=None,
                        help="where executed notebooks go (default: in place; runs/quick in quick mode)")
    parser.add_argument("--force", action="store_true", help="rerun even if outputs are current")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
    parser.add_argument("--export", action="store_true",
                        help="only re-export the HTML of the executed notebooks (no execution)")
    args = parser.parse_args(argv)
    if args.export:
        for name in args.notebooks:
            print("wrote", os.path.relpath(export_html(os.path.join(ROOT, name)), ROOT))
        return
    quick = args.quick or quick_mode()
    start = time.time()
    times = run(args.notebooks, quick=quick, out_dir=args.out_dir, force=args.force,
                timeout=args.timeout)
    ran = {k: v for k, v in times.items() if v is not None}
    if ran:
        print("=== wall time: " + ", ".join(f"{k} {v:.0f}s" for k, v in ran.items())
              + f"; total {time.time() - start:.0f}s")
    else:
        print("=== every notebook was current; nothing ran")


if __name__ == "__main__":
    main()
