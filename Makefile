# The table of contents of the replication. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RAW ?= data/raw
OUT ?= output
PANEL ?= data/processed/panel.csv
SET ?=
OPTS := $(foreach s,$(SET),--set $(s))
JOBS ?= 2
TEST_JOBS ?= 2
SCHEDULER ?=

.PHONY: help all data indices models report guangxi options test bench clean fetch-raw verify multiverse notebooks ethnic

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'
	@echo "  variables: RAW=<raw directory> (default data/raw), PANEL=<panel CSV> (default data/processed/panel.csv),"
	@echo "             SET='name=value ...' (options; \`make options\` lists them), OUT=<output directory> (default output)"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

all: $(STAMP) ## every table, figure and report (indices, models, report, guangxi, ethnic), from the committed panel (no raw files needed)
	$(PY) -m replication $(OPTS) all --panel $(PANEL) --out $(OUT)

indices: $(STAMP) ## output/data/analysis.csv and Tables 1, 3, 4 (Dist, Dig, descriptives)
	$(PY) -m replication $(OPTS) indices --panel $(PANEL) --out $(OUT)

models: $(STAMP) ## Tables 5-9 as tidy CSVs (baseline, regions, 2SLS, robustness, mediation)
	$(PY) -m replication $(OPTS) models --panel $(PANEL) --out $(OUT)

report: $(STAMP) ## rendered tables (md, tex, html), comparison and audit reports, figures
	$(PY) -m replication $(OPTS) report --panel $(PANEL) --out $(OUT)

guangxi: $(STAMP) ## the Guangxi case: seed 000's figures beside the yearbook, Table 5 (4) within Guangxi
	$(PY) -m replication $(OPTS) guangxi --panel $(PANEL) --out $(OUT)

ethnic: $(STAMP) ## the ethnic regions: seed 004's figures beside the panel, Table 5 (4) for the eight ethnic provinces
	$(PY) -m replication $(OPTS) ethnic --panel $(PANEL) --out $(OUT)

options: $(STAMP) ## list every option: default, allowed values, the step that applies it, why
	$(PY) -m replication options

data: $(STAMP) ## rebuild data/processed/ from the raw files in RAW
	$(PY) -m replication $(OPTS) panel --raw $(RAW) --out data/processed

fetch-raw: $(STAMP) ## download and verify the raw files `make data` reads into RAW (MIRROR=<url> for a local copy)
	$(PY) -m replication fetch --raw $(RAW) $(if $(MIRROR),--mirror $(MIRROR))

test: $(STAMP) ## run the test suite on TEST_JOBS=2 processes (tests that need RAW are skipped without it, and fail under CI=true)
	REPLICATION_RAW=$(abspath $(RAW)) $(PY) -m pytest -q -n $(TEST_JOBS)

multiverse: $(STAMP) ## every specification of the grid: output/multiverse/ (JOBS=2, SCHEDULER=<dask address>)
	$(PY) -m replication $(OPTS) multiverse --panel $(PANEL) --out $(OUT) --jobs $(JOBS) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

# the benchmark's own environment: the lock plus the reference package specification_curve (kept at the
# lock's versions; if it cannot be installed, the benchmark records that instead of failing)
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	-$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -c requirements.lock specification_curve
	touch $@

bench: $(STAMP) $(BENCH_VENV)/.installed ## time the resampling, Tables 5-9 and the multiverse (benchmarks/, in .venv-bench); writes output/bench.json
	$(BENCH_VENV)/bin/python -m benchmarks $(OPTS) --panel $(PANEL) --out $(OUT)

notebooks: $(STAMP) ## execute notebooks/*.ipynb in place, so they are committed with their outputs (a test checks they are current)
	$(PY) -m replication notebooks

verify: $(STAMP) ## Tables 5-9 recomputed by linearmodels and pyfixest; fails above 1e-8
	$(PY) -m replication $(OPTS) verify --panel $(PANEL) --out $(OUT)

clean: ## remove output/ and the virtual environment
	rm -rf $(OUT) $(VENV) $(BENCH_VENV) .pytest_cache
