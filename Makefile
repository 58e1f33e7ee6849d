# Quick start:  make run   (set up, then a fusion search on a local Ray with synthetic data)
#               make test  (set up, then the fast test suite)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= -m "not slow"

.PHONY: setup run train test test-all bench clean

setup: $(VENV)/.installed

# torch==2.13.0 first: it is the CPU build on local disk; a bare "torch" would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

run: setup
	$(PY) -m faceauth.tune fusion --trials 50

train: setup
	$(PY) -m faceauth.train fusion --synthetic --epochs 30 --config configs/example.yaml

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/fusion_train.py

clean:
	rm -rf runs logs weights checkpoints benchmarks/results
