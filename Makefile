# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# Two pytest workers match the 2-core reference machine; override with `make test JOBS=1`.
JOBS   ?= 2

.PHONY: demo test lint test-gpu test-all snapshots clean

$(STAMP): pyproject.toml
	@echo "setting up .venv: installing cnnlab with PyTorch and torchvision (first run only; a few minutes, more when the wheels download)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test,explain,export]'
	touch $(STAMP)

# The main job: train LeNet-5 on scikit-learn's bundled digits (no download), test it.
DEMO_RUN ?= runs/demo-lenet5-$(shell date -u +%Y%m%d-%H%M%S)

# One test number, with the checkpoint it comes from (best.pt, chosen on held-out training
# images); `cnnlab eval RUN` prints the per-class report.
demo: $(STAMP)
	$(VENV)/bin/cnnlab train lenet5 --run-dir $(DEMO_RUN) --no-progress
	@echo "run directory: $(DEMO_RUN) (recipe.yaml, metrics.csv, curves.png, checkpoints/, report.json); per-class report: $(VENV)/bin/cnnlab eval $(DEMO_RUN)"

# The import contracts (import-linter: the layers of docs/architecture.md) and ruff.
lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

test: lint
	$(PY) -m pytest -q -n $(JOBS) --dist loadgroup -m "not slow and not gpu"

test-gpu: $(STAMP)
	$(PY) -m pytest -q -m gpu

test-all: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) --dist loadgroup

# Rewrite the structure snapshots in tests/snapshots/ after an intended change; review the diff.
snapshots: $(STAMP)
	CNNLAB_UPDATE_SNAPSHOTS=1 $(PY) -m pytest -q tests/models/test_snapshots.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
