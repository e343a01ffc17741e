"""Record what chapter 10's Triton cells print, for readers without Triton.

Triton ships for Linux only. `notebooks/10_kernels.ipynb` runs each cell that needs it under
`if TRITON:`; without Triton the cell calls `recorded("<name>")` instead, which prints what the
cell printed where Triton is installed. This script executes the chapter top to bottom there (as
the tests and the book build do) and writes every such cell's printed output to `10_kernels.json`,
with the versions it ran with. Nothing in that file is typed by hand: run this again whenever one
of those cells changes (a test checks that every `recorded(...)` name has a recording).

    .venv/bin/python assets/recorded/record.py
"""

from __future__ import annotations

import json
import platform
import re
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
CHAPTER = HERE.parents[1] / "notebooks" / "10_kernels.ipynb"
OUT = HERE / "10_kernels.json"
NAME = re.compile(r'recorded\("([a-z0-9_]+)"\)')


def main() -> None:
    import triton  # the recording needs the real thing

    nb = nbformat.read(CHAPTER, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(CHAPTER.parent)}}
    ).execute()
    cells = {}
    for cell in nb.cells:
        names = NAME.findall(cell.source) if cell.cell_type == "code" else []
        if names:
            (name,) = names
            streams = [
                o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout"
            ]
            cells[name] = "".join(streams)
    record = {
        "machine": f"{platform.system()} {platform.machine()}, no GPU"
        if not torch.cuda.is_available()
        else f"{platform.system()} {platform.machine()}, {torch.cuda.get_device_name()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "cells": cells,
    }
    OUT.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(cells)} cells recorded into {OUT} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
