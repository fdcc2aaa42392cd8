# hw5: every step from a fresh clone.  `make test` runs the suite; `make all` runs the main job.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

# Where CIFAR-10 lives: $CIFAR10_DIR if set, else the course copy beside this
# checkout (../shared), else datasets/ here (where `make data` downloads it).
SHARED_CIFAR := $(abspath ../shared/datasets/cifar-10-batches-py)
CIFAR10_DIR ?= $(if $(wildcard $(SHARED_CIFAR)/data_batch_1),$(SHARED_CIFAR),$(CURDIR)/datasets/cifar-10-batches-py)
export CIFAR10_DIR

.PHONY: all test venv build data latex lab two-layer best ablation search search-postgres notebooks notebooks-quick writeup submission draft bench bench-torch clean

all: data build notebooks writeup draft

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

build: venv
	$(PY) setup.py build_ext --inplace

data: venv
	$(PY) data_utils.py download --dir "$(CIFAR10_DIR)"

test: build latex
	$(PY) -m pytest tests

# LaTeX for the writeup, from Debian's packages; installed when missing and we are root.
TEX_PACKAGES := texlive-latex-recommended texlive-latex-extra texlive-pictures \
                texlive-fonts-recommended latexmk
latex:
	@if command -v latexmk >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES) >/dev/null; \
	else echo "LaTeX is missing; install it with: sudo apt-get install --no-install-recommends $(TEX_PACKAGES)"; fi

# Without LaTeX (and no way to install it) the committed writeup.pdf stands, and we say so.
writeup: venv latex
	@if command -v latexmk >/dev/null 2>&1; then \
	    $(MAKE) -C writeup PYTHON=$(abspath $(PY)); \
	else echo "make writeup: LaTeX not found, keeping the committed writeup.pdf; to rebuild it," \
	    "install $(TEX_PACKAGES) (or TeX Live / MacTeX) and run make writeup"; fi

# JupyterLab on the notebooks, with the venv's Python (and the built extension) as kernel.
# (As root, e.g. in a container, Jupyter wants --allow-root.)
lab: build
	$(PY) -m jupyter lab --notebook-dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root)

two-layer: build
	$(PY) experiments.py two-layer

# Problem 4.4.7's fast net, end to end: the epochs that fit in 90 minutes of training here,
# timed first (budget.py), then a few minutes of testing; resumes from checkpoints/.
best: build
	$(PY) experiments.py best

ablation: build
	$(PY) experiments.py ablation

# Hyperparameter search (search.py): EXPERIMENT, TRIALS, WORKERS; resumes when rerun.
EXPERIMENT ?= two-layer
TRIALS ?= 30
WORKERS ?= 1
search: data build
	$(PY) search.py $(EXPERIMENT) --trials $(TRIALS) --workers $(WORKERS)

# The same search shared through a local PostgreSQL server (needs its programs installed).
search-postgres: data build
	PY=$(PY) sh scripts/postgres_search.sh $(EXPERIMENT) $(TRIALS)

# Execute the three notebooks on CIFAR-10 (in place, with HTML exports). Skips a notebook
# whose saved outputs match the current code (FORCE=1 reruns it); long trainings resume
# from checkpoints/, and the best model is trained by `experiments.py best` (both cores)
# before the notebook that resumes it. It first prints what will run.
notebooks: data build
	$(PY) run_notebooks.py $(if $(FORCE),--force)

# Every cell on a small subset in a few minutes, into runs/quick/ (never over the notebooks).
notebooks-quick: data build
	HW5_QUICK=1 $(PY) run_notebooks.py

# hw5_submission.zip (code, notebooks, HTML, writeup.pdf; no data, no build products).
# Stops while AUTHORS holds the placeholder; `make draft` writes hw5_draft.zip regardless.
submission: venv
	$(PY) run_notebooks.py --export
	$(PY) make_submission.py

draft: venv
	$(PY) run_notebooks.py --export
	$(PY) make_submission.py --draft

bench: build
	$(PY) benchmarks/bench_conv.py

# A separate venv with PyTorch (CPU) for the comparison benchmarks only (benchmarks/README.md);
# the project never imports torch.
TORCH_VENV := .venv-torch
bench-torch: $(TORCH_VENV)/.installed

$(TORCH_VENV)/.installed: benchmarks/requirements-torch.txt
	$(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-torch.txt
	touch $@

clean:
	rm -rf build *.so im2col_cython.c nhwc_cython.c .pytest_cache
