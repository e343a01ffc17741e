# Two commands for a fresh machine (each installs what it needs into .venv):
#   make demo    the main job: what DeepSeek-V3 671B is made of, computed from r1mini's model
#   make test    ruff and the fast test tier
# TORCH pins the PyTorch wheel installed before everything else (the CPU build where one is local).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: demo test test-slow lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(PY) -m r1mini info deepseek-v3-671b

lint: $(VENV)/.installed
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
