"""r1mini without Triton, as on macOS and Windows (Triton ships wheels for Linux only).

A `sitecustomize.py` put first on PYTHONPATH hides the triton package from every import of a child
Python: the import system finds no `triton`, as where it is not installed. In such a Python the
package imports (all but the Triton kernels and the sm_90 compile check), trains and generates with
the PyTorch references, `kernels.use("triton")` says in one line why it cannot, and chapter 10 runs
to the end, printing the results recorded with Triton (`assets/recorded/`) where it cannot run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "10_kernels.ipynb"
RECORDED = ROOT / "assets" / "recorded" / "10_kernels.json"
NEEDS_TRITON = {"r1mini.bench.compile_check", "r1mini.bench.compile_launches"}  # and r1mini.kernels.*_triton
EXTRAS = {"r1mini.bench.trl_grpo": {"datasets", "trl"}}  # modules of an optional extra (.[compare])

HIDE_TRITON = '''
import sys


class HideTriton:
    """Wraps an import finder: it finds nothing named triton (triton.*), everything else as before."""

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "triton":
            return None
        return self.finder.find_spec(name, path, target)

    def __getattr__(self, attr):
        return getattr(self.finder, attr)


sys.meta_path[:] = [HideTriton(f) if hasattr(f, "find_spec") else f for f in sys.meta_path]
'''

IN_THE_PACKAGE = """
import importlib
import importlib.util
import pkgutil
import sys

import torch

import r1mini
from r1mini import ModelConfig, Transformer, kernels
from r1mini.__main__ import main
from r1mini.reasoning import VOCAB_SIZE, generate_text
from r1mini.training import TrainConfig, Trainer

assert importlib.util.find_spec("triton") is None, "triton is not hidden"
for info in pkgutil.walk_packages(r1mini.__path__, "r1mini."):
    needs = info.name.endswith("_triton") or info.name in NEEDS_TRITON
    try:
        importlib.import_module(info.name)
        assert not needs, f"{info.name} imported without triton"
    except ModuleNotFoundError as e:
        missing = (e.name or "").partition(".")[0]
        assert (needs and missing == "triton") or missing in EXTRAS.get(info.name, ()), f"{info.name}: {e}"
print("triton available:", kernels.triton_available())
try:
    kernels.use("triton")
except RuntimeError as e:
    print("use('triton'):", e)
try:
    main(["train", "--preset", "nano", "--steps", "1", "--out", OUT, "--kernels", "triton"])
except RuntimeError as e:
    print("--kernels triton:", e)
torch.manual_seed(0)
model = Transformer(ModelConfig.preset("nano", vocab_size=VOCAB_SIZE))
run = Trainer(model, TrainConfig(steps=3, batch_size=4), progress=False)
run.run()
print("losses:", all(m["loss"] > 0 for m in run.history if "loss" in m), len(run.history))
print("generated:", len(generate_text(model, ["compute 1+1"], 6, temperature=0.0)))
print("triton imported:", "triton" in sys.modules)
"""

RUN_THE_CHAPTER = """
import nbformat
from nbclient import NotebookClient

nb = nbformat.read(CHAPTER, as_version=4)
NotebookClient(nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": PARENT}}).execute()
nbformat.write(nb, OUT)
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a child Python without triton (its notebook kernels inherit it)."""
    site = tmp_path_factory.mktemp("hide_triton")
    (site / "sitecustomize.py").write_text(HIDE_TRITON)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["OMP_NUM_THREADS"] = "1"  # tiny tensors (see conftest.py)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    return env


def _run(code: str, env: dict[str, str], **names: object) -> str:
    """Run `code` in a child Python with `env`, `names` defined first; returns what it printed."""
    prelude = "".join(f"{name} = {value!r}\n" for name, value in names.items())
    run = subprocess.run(
        [sys.executable, "-c", prelude + code], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return run.stdout


@pytest.mark.integration
def test_the_package_imports_trains_and_generates_without_triton(env, tmp_path) -> None:
    out = _run(IN_THE_PACKAGE, env, NEEDS_TRITON=NEEDS_TRITON, EXTRAS=EXTRAS, OUT=str(tmp_path / "run"))
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert lines["triton available"] == "False"
    for what in ("use('triton')", "--kernels triton"):
        assert lines[what].startswith("kernel backend 'triton' needs the triton package, which is not")
    assert lines["losses"] == "True 3" and lines["generated"] == "1"
    assert lines["triton imported"] == "False"


def test_every_recorded_cell_of_chapter_10_has_a_recording() -> None:
    """What `assets/recorded/record.py` wrote covers exactly the cells that print a recording."""
    cells = nbformat.read(CHAPTER, as_version=4).cells
    names = [name for c in cells for name in re.findall(r'recorded\("([a-z0-9_]+)"\)', c.source)]
    recorded = json.loads(RECORDED.read_text())
    assert sorted(names) == sorted(recorded["cells"]) and len(names) == len(set(names))
    assert all(text.strip() for text in recorded["cells"].values())
    assert recorded["triton"] and recorded["machine"].startswith("Linux")


@pytest.mark.notebooks
def test_chapter_10_runs_without_triton_and_shows_the_recorded_results(env, tmp_path) -> None:
    executed = tmp_path / "10_kernels.ipynb"
    _run(RUN_THE_CHAPTER, env, CHAPTER=str(CHAPTER), PARENT=str(CHAPTER.parent), OUT=str(executed))
    code = [c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    printed = ["".join(o["text"] for o in c["outputs"] if o["output_type"] == "stream") for c in code]
    assert printed[0].startswith("Time to read")  # the chapter's measured times, then its set-up
    assert printed[1].startswith("Triton is not installed here (it ships for Linux only)"), printed[1]
    recorded = json.loads(RECORDED.read_text())["cells"]
    for name, text in recorded.items():
        (shown,) = [p for p in printed if text in p]
        assert shown.startswith("[recorded with triton"), name
