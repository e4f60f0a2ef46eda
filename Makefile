# Two commands that work on a fresh machine:  make demo   and   make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= embed,graph,ray,spark,k8s,dev

.PHONY: setup demo test
setup: $(VENV)/.installed

# torch first, pinned to the local CPU build: anything else pulls GBs of CUDA wheels.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

# Offline: the temporary Prefect API must not try to send usage analytics.
demo: setup
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python -m flows.demo

test: setup
	$(BIN)/python -m pytest
