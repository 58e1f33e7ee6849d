# Quick start:  make run    (set up, then a fusion search on a local Ray with synthetic data)
#               make smoke  (set up, then a two-trial search through the whole path, about a minute)
#               make test   (set up, then the fast test suite)
#               make docs   (set up, then the manual under docs/ built into site/)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= -m "not slow"

.PHONY: setup run smoke train test test-all bench docs clean

setup: $(VENV)/.installed

# torch==2.13.0 first: it is the CPU build on local disk; a bare "torch" would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# shared_error: a strong per-image error (pose, blur) every recogniser sees alike, as real data has; the
# "default" regime saturates (every trial at TAR 1.0) and tells the trials nothing (README: Quick start).
run: setup
	$(VENV)/bin/faceauth tune fusion --trials 50 --synthetic-regime shared_error

smoke: setup
	$(VENV)/bin/faceauth tune fusion --smoke-test --no-dashboard

train: setup
	$(VENV)/bin/faceauth train fusion --synthetic --epochs 30 --config configs/example.yaml

# The test extra includes mlflow-skinny, wandb and optuna-dashboard: the tracking tests run, not skip.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/fusion_train.py

# The manual: docs/ (pages listed in mkdocs.yml) built into site/; strict, so a broken link or a docstring
# that does not render fails. The test extra installs MkDocs.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# Build and cache outputs only: runs/, weights/, logs/ and checkpoints/ are results and stay.
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
