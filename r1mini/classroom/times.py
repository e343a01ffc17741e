"""The time to read and to run each chapter, measured rather than guessed.

`record` runs every chapter top to bottom on a fresh kernel (nbclient, as the tests and the book
build do) and times it, counts the words of its prose and the lines of its code, and writes them
with the machine they were measured on to `assets/recorded/chapter_times.json`
(`python -m r1mini.classroom time`). Each chapter's opening cell calls `chapter_times`, which
prints them. Reading time assumes 200 words of prose and 20 lines of code a minute, a careful
technical reading pace (an assumption, stated where it is shown).
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "assets" / "recorded" / "chapter_times.json"
WORDS_PER_MINUTE = 200
CODE_LINES_PER_MINUTE = 20


def reading(notebook: Path) -> dict[str, int]:
    """Words of prose (markdown cells) and non-blank lines of code of a notebook."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    prose = " ".join(c.source for c in cells if c.cell_type == "markdown")
    code = [line for c in cells if c.cell_type == "code" for line in c.source.splitlines() if line.strip()]
    return {"words": len(re.findall(r"[A-Za-z0-9]+", prose)), "code_lines": len(code)}


def read_minutes(entry: dict) -> float:
    return entry["words"] / WORDS_PER_MINUTE + entry["code_lines"] / CODE_LINES_PER_MINUTE


def run_seconds(notebook: Path, timeout: int = 600) -> float:
    """Execute `notebook` top to bottom on a fresh kernel, in its own folder; the wall time in s."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": str(notebook.parent)}}
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def record(notebooks: list[Path], out: Path = RECORD) -> dict:
    """Measure `notebooks` and merge them into the record at `out` (other chapters are kept)."""
    data = json.loads(out.read_text()) if out.exists() else {"chapters": {}}
    for notebook in notebooks:
        load = os.getloadavg()[0]
        seconds = run_seconds(notebook)
        data["chapters"][notebook.stem] = {
            "run_s": round(seconds, 1),
            **reading(notebook),
            "load_before": round(load, 2),
            "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        }
        print(f"{notebook.stem}: {seconds:.1f} s (load average {load:.2f} before)", flush=True)
        data["machine"] = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}"
        data["how"] = (
            "python -m r1mini.classroom time: each chapter run top to bottom on a fresh kernel by "
            "nbclient, as the tests run it; load_before is the 1-minute load average just before"
        )
        data["chapters"] = dict(sorted(data["chapters"].items()))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=1) + "\n")  # after each chapter: a stop keeps the rest
    return data


def chapter_times(chapter: str, record_path: Path = RECORD) -> None:
    """Print the time to read `chapter` and to run it, as `record` measured them."""
    data = json.loads(record_path.read_text()) if record_path.exists() else {"chapters": {}}
    entry = data["chapters"].get(chapter)
    if entry is None:
        print(f"{chapter}: not measured yet (`python -m r1mini.classroom time {chapter}` measures it).")
        return
    print(
        f"Time to read: about {max(1, round(read_minutes(entry)))} min "
        f"({entry['words']:,} words at {WORDS_PER_MINUTE} a minute, "
        f"{entry['code_lines']} lines of code at {CODE_LINES_PER_MINUTE} a minute)."
    )
    print(
        f"Time to run: {entry['run_s']:.0f} s top to bottom, measured on {data['machine']} "
        f"(load average {entry['load_before']:.1f} before; {entry['measured']}, "
        "`python -m r1mini.classroom time`)."
    )
