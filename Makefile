# hikscan — `make run` analyses the bundled captures; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt fuzz bench lab captures geodb clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/hikscan analyze pcaps/ --fail-on none

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check hikscan tests bench scripts pcaps
	$(VENV)/bin/ruff format --check hikscan tests bench scripts pcaps

fmt: $(STAMP)
	$(VENV)/bin/ruff format hikscan tests bench scripts pcaps
	$(VENV)/bin/ruff check --fix hikscan tests bench scripts pcaps

fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/test_fuzz.py

bench: $(STAMP)
	$(PY) bench/bench_analyze.py

captures: $(STAMP)
	$(PY) pcaps/generate.py

geodb: $(STAMP)
	$(PY) -m pip install -q -e '.[build-data]'
	$(PY) scripts/build_geodb.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
