# The table of contents of the replication. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RAW ?= data/raw
OUT := output
PANEL ?= data/processed/panel.csv
SET ?=
OPTS := $(foreach s,$(SET),--set $(s))

.PHONY: help all data indices models report options test bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'
	@echo "  variables: RAW=<raw directory> (default data/raw), PANEL=<panel CSV> (default data/processed/panel.csv),"
	@echo "             SET='name=value ...' (options; \`make options\` lists them)"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

all: indices models report ## every table, figure and report, from the committed panel (no raw files needed)

indices: $(STAMP) ## output/data/analysis.csv and Tables 1, 3, 4 (Dist, Dig, descriptives)
	$(PY) -m replication $(OPTS) indices --panel $(PANEL) --out $(OUT)

models: $(STAMP) ## Tables 5-9 as tidy CSVs (baseline, regions, 2SLS, robustness, mediation)
	$(PY) -m replication $(OPTS) models --panel $(PANEL) --out $(OUT)

report: $(STAMP) ## rendered tables (md, tex, html), comparison and audit reports, figures
	$(PY) -m replication $(OPTS) report --panel $(PANEL) --out $(OUT)

options: $(STAMP) ## list every option: default, allowed values, the step that applies it, why
	$(PY) -m replication options

data: $(STAMP) ## rebuild data/processed/ from the raw files in RAW
	$(PY) -m replication $(OPTS) panel --raw $(RAW) --out data/processed

test: $(STAMP) ## run the test suite (tests that need RAW are skipped without it, and fail under CI=true)
	REPLICATION_RAW=$(abspath $(RAW)) $(PY) -m pytest -q

bench: $(STAMP) ## time the resampling and Tables 5-9; writes output/bench.json
	$(PY) -m replication $(OPTS) bench --panel $(PANEL) --out $(OUT)

clean: ## remove output/ and the virtual environment
	rm -rf $(OUT) $(VENV) .pytest_cache
