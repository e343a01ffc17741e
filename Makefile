# Two commands for a fresh machine (each installs what it needs into .venv):
#   make book    the main job: execute every chapter and build the website into book/_build/html
#   make test    ruff and the fast test suite (model parity, kernels, training, notebooks, website)
# Also: `make test-fast` runs the unit tier only (no notebooks, website, sm_90 compiles, bench, CLI,
#   end-to-end runs): a check of a small change in well under a minute.
# Also: `make lab` opens JupyterLab on notebooks/, `make demo` prints what DeepSeek-V3 671B is made of.
# `make classroom` writes the course for teachers into book/_build/classroom: nbgrader's source/
#   (instructor notebooks) and release/ (student notebooks), gradebook.db, and slides/ (reveal.js).
# TORCH pins the PyTorch wheel installed before everything else (the CPU build where one is local).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

CLASSROOM ?= book/_build/classroom

.PHONY: book lab demo classroom test test-fast test-slow lint clean

# the unit tier: what `make test-fast` runs (the markers are registered in pyproject.toml)
UNIT := not slow and not notebooks and not book and not compile and not bench and not cli and not integration and not distributed and not classroom

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,book,onnx]"
	touch $@

# nbgrader (the classroom extra): `make classroom` and the classroom tests need it
$(VENV)/.classroom: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[classroom]"
	touch $@

book: $(VENV)/.installed
	PYTHON=$(PY) book/build.sh
	@echo "Open book/_build/html/index.html in a browser."

# LAB_ARGS: e.g. "--ip 0.0.0.0 --port 8888 --no-browser" on a shared server. As root (a container, a
# fresh cloud machine) Jupyter refuses to start unless told --allow-root.
LAB_ARGS ?=
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[lab]"
	$(PY) -m jupyter lab $(ALLOW_ROOT) $(LAB_ARGS) notebooks/

classroom: $(VENV)/.classroom
	$(PY) -m r1mini.classroom build $(CLASSROOM)
	@echo "Grade a submission: $(PY) -m r1mini.classroom grade NOTEBOOK.ipynb"

demo: $(VENV)/.installed
	$(PY) -m r1mini info deepseek-v3-671b

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint $(VENV)/.classroom
	$(PY) -m pytest -q

test-fast: lint
	$(PY) -m pytest -q -m "$(UNIT)"

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache book/_build book/_vendor
