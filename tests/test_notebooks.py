"""Every chapter notebook runs top to bottom on a fresh kernel, fast enough for a classroom, and is
committed without outputs.

The runs come from the `run_notebook` fixture (conftest.py), which the website test shares: each
chapter executes once per test session. Budget per chapter: 3 minutes on a 2-core CPU (STYLE.md).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from helpers import NOTEBOOK_BUDGET_S

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    with_outputs = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
    ]
    assert not with_outputs, f"{path.name}: strip the outputs of cells {with_outputs}"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, run_notebook):
    run = run_notebook(path)
    assert run.error is None, f"{path.name} failed:\n{run.error}"
    assert run.seconds < NOTEBOOK_BUDGET_S, (
        f"{path.name} took {run.seconds:.0f} s; the budget is {NOTEBOOK_BUDGET_S} s"
    )
