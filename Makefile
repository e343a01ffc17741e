# Two commands for a fresh machine (each installs what it needs into .venv):
#   make book    the main job: execute every chapter and build the website into book/_build/html
#   make test    ruff and the fast test suite (model parity, kernels, training, notebooks, website)
# Also: `make test-fast` runs the unit tier only (no notebooks, website, sm_90 compiles, bench, CLI,
#   end-to-end runs): a check of a small change in well under a minute.
# Also: `make lab` opens JupyterLab on notebooks/, `make demo` prints what DeepSeek-V3 671B is made of.
# TORCH pins the PyTorch wheel installed before everything else (the CPU build where one is local).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: book lab demo test test-fast test-slow lint clean

# the unit tier: what `make test-fast` runs (the markers are registered in pyproject.toml)
UNIT := not slow and not notebooks and not book and not compile and not bench and not cli and not integration and not distributed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,book,onnx]"
	touch $@

book: $(VENV)/.installed
	PYTHON=$(PY) book/build.sh
	@echo "Open book/_build/html/index.html in a browser."

lab: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[lab]"
	$(PY) -m jupyter lab notebooks/

demo: $(VENV)/.installed
	$(PY) -m r1mini info deepseek-v3-671b

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest -q

test-fast: lint
	$(PY) -m pytest -q -m "$(UNIT)"

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache book/_build book/_vendor
