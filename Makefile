# Two commands on a fresh machine: `make demo` and `make test`. Each makes .venv when missing.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.installed-dev
DEMO_OUT ?= demo-out

.PHONY: demo test lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch and torchvision are pinned here (pyproject keeps ranges): these builds lie on this machine's disk.
$(INSTALLED): $(PY) pyproject.toml
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e '.[serve]'
	touch $@

$(DEV_INSTALLED): $(INSTALLED)
	$(PIP) install -q -e '.[dev]'
	touch $@

demo: $(INSTALLED)
	$(VENV)/bin/seewhy explain --top 3 --method gradcam --method gradcam++ --method layercam --method eigencam --out $(DEMO_OUT)
	@echo "figures: $(DEMO_OUT)/000_chelsea/figure.png, report: $(DEMO_OUT)/report.json"

test: $(DEV_INSTALLED)
	$(VENV)/bin/pytest -q

lint: $(DEV_INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(DEV_INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(DEV_INSTALLED)
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) seewhy-out .pytest_cache .ruff_cache
