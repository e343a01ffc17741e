"""Every chapter as a reveal.js deck that works offline (`jupyter nbconvert --to slides`).

The decks are made from the chapters as the website build executes them (`R1MINI_SITE=1`): each
view is one plotly figure whose own slider and menu switch among precomputed states, so the
slides stay interactive without a kernel. nbconvert's `SlidesExporter` writes them with r1mini's
template (`slides_template/`), which differs from nbconvert's reveal template only in what it
loads: reveal.js, MathJax 3 and plotly.js from `vendor/` beside the decks (reveal.js packed from
npm at build time, MathJax and plotly.js from the website's `book/vendor.sh`), where nbconvert's
would fetch reveal.js, jQuery, require.js, MathJax 2 and mermaid from CDNs.

The chapters carry no slide metadata of their own; `slide_metadata` gives it to the deck's copy:
a markdown cell that opens with a `#`/`##` heading starts a slide, every other cell a subslide
below it (reveal.js's vertical stack), and the graded exercises' solution and test cells are
skipped (a deck is shown to the class). The live panel of chapters 00, 02 and 03 (`r1mini.viz.live`)
is left out: on the website it runs ONNX exports of the checkpoints that a deck does not carry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).resolve().parent / "slides_template"
REVEAL = "reveal.js@5.2.1"
SITE_VENDOR = ROOT / "book" / "_vendor" / "_static" / "vendor"  # book/vendor.sh: MathJax, plotly.js
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
LIVE_PANEL = "r1-live-panel"  # r1mini.viz.live's panel, which runs the website's ONNX checkpoints


def vendor(dest: Path, python: str = "python3") -> None:
    """reveal.js (npm), MathJax and plotly.js (book/vendor.sh) into `dest`; nothing if already there."""
    stamp = dest / "VERSIONS"
    subprocess.run([str(ROOT / "book" / "vendor.sh")], check=True, env=dict(os.environ, PYTHON=python))
    wanted = f"{REVEAL} {(SITE_VENDOR / 'VERSIONS').read_text().strip()}"
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to vendor reveal.js (apt-get install -y npm)")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        packed = subprocess.run(
            ["npm", "pack", "--silent", REVEAL], cwd=tmp, check=True, capture_output=True, text=True
        ).stdout.split()[-1]
        shutil.unpack_archive(Path(tmp) / packed, tmp)
        for part in ("dist", "plugin"):
            shutil.copytree(Path(tmp) / "package" / part, dest / "reveal.js" / part)
    shutil.copytree(SITE_VENDOR / "mathjax", dest / "mathjax")
    shutil.copyfile(SITE_VENDOR / "plotly.min.js", dest / "plotly.min.js")
    stamp.write_text(wanted + "\n")


def slide_metadata(nb) -> None:
    """Give every cell of `nb` (an nbformat notebook, changed in place) its reveal.js slide type,
    and keep only the static figure of each widget output (the deck has no kernel)."""
    for i, cell in enumerate(nb.cells):
        grader = cell.metadata.get("nbgrader", {})
        if grader.get("solution") or grader.get("grade"):
            kind = "skip"
        elif i == 0 or (cell.cell_type == "markdown" and cell.source.lstrip().startswith(("# ", "## "))):
            kind = "slide"
        else:
            kind = "subslide"
        cell.metadata["slideshow"] = {"slide_type": kind}
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and "text/html" in data:
                del data[WIDGET_VIEW]
        if cell.cell_type == "code":  # the live panel needs the website's ONNX models: not in a deck
            cell.outputs = [o for o in cell.outputs if LIVE_PANEL not in str(o.get("data", {}))]
    nb.metadata.pop("widgets", None)


def write_deck(executed: Path, out: Path) -> Path:
    """The deck of one executed chapter notebook: `out/<chapter>.slides.html`."""
    import nbformat
    from nbconvert import SlidesExporter

    nb = nbformat.read(executed, as_version=4)
    slide_metadata(nb)
    exporter = SlidesExporter(extra_template_basedirs=[str(TEMPLATE.parent)], template_name=TEMPLATE.name)
    exporter.reveal_url_prefix = "vendor/reveal.js"
    exporter.reveal_scroll = True
    exporter.reveal_theme = "white"  # its font ships with reveal.js ("simple" fetches Google Fonts)
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": executed.stem}})
    deck = out / f"{executed.stem}.slides.html"
    deck.write_text(html)
    return deck


def build_slides(out: Path, executed: list[Path], python: str = "python3") -> list[Path]:
    """Decks of the executed chapters `executed` in `out`, with what they load in `out/vendor`."""
    out.mkdir(parents=True, exist_ok=True)
    vendor(out / "vendor", python)
    return [write_deck(notebook, out) for notebook in executed]
