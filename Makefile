# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# Two pytest workers match the 2-core reference machine; override with `make test JOBS=1`.
JOBS   ?= 2

.PHONY: demo test test-all snapshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cnnlab list
	$(VENV)/bin/cnnlab info googlenet
	$(VENV)/bin/cnnlab summary vgg16

test: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) -m "not slow and not gpu"

test-all: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS)

# Rewrite the structure snapshots in tests/snapshots/ after an intended change; review the diff.
snapshots: $(STAMP)
	CNNLAB_UPDATE_SNAPSHOTS=1 $(PY) -m pytest -q tests/models/test_snapshots.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
