# hw5: every step from a fresh clone.  `make test` runs the suite; `make all` runs the main job.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

# Where CIFAR-10 lives: $CIFAR10_DIR if set, else the course copy beside this
# checkout (../shared), else datasets/ here (where `make data` downloads it).
SHARED_CIFAR := $(abspath ../shared/datasets/cifar-10-batches-py)
CIFAR10_DIR ?= $(if $(wildcard $(SHARED_CIFAR)/data_batch_1),$(SHARED_CIFAR),$(CURDIR)/datasets/cifar-10-batches-py)
export CIFAR10_DIR

.PHONY: all test venv build data two-layer clean

all: data build two-layer

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

test: build
	$(PY) -m pytest tests

two-layer: venv
	$(PY) experiments.py two-layer

clean:
	rm -rf build *.so im2col_cython.c .pytest_cache
