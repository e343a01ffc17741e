"""The website: `book/build.sh` builds it (from the executed chapters; any warning fails), then headless
Chromium opens every chapter from a local server and checks it works offline: plotly figures draw
their traces, widgets show their static figures, MathJax typesets the math, no page error, no
failed request, no request leaves 127.0.0.1, and no page loads a script from the network.

Chromium is Debian's (`apt-get install -y chromium`), driven by Playwright's Python package, which
must never download a browser of its own. Screenshots go to book/_build/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
SCREENSHOTS = ROOT / "book" / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REMOTE_SCRIPT = re.compile(r"<script[^>]+src=[\"'](https?:)?//", re.IGNORECASE)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, run_notebook) -> Path:
    """The built website (built once per test session), from the chapters as `run_notebook`
    executed them (the notebook tests share those runs; `make book` executes them itself)."""
    import nbformat

    executed = tmp_path_factory.mktemp("executed")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        run = run_notebook(path)
        assert run.error is None, f"{path.name} failed:\n{run.error}"
        nbformat.write(run.notebook, executed / path.name)
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, PYTHON=sys.executable, EXECUTED=str(executed))
    result = subprocess.run(
        [str(ROOT / "book" / "build.sh"), str(out)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def server(site: Path):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it with "
            "`apt-get update && apt-get install -y chromium` (or set CHROMIUM=/path/to/chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def test_math_renders_on_the_welcome_page(server: str, browser):
    page = browser.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(f"{server}/intro.html", wait_until="load")
    page.wait_for_selector("mjx-container", timeout=30_000)
    assert page.locator("mjx-container").count() >= page.locator(".math").count() > 0
    assert not failed, f"failed requests: {failed}"
    page.close()


def test_every_chapter_is_in_the_site(site: Path):
    missing = [c for c in CHAPTERS if not (site / "notebooks" / f"{c}.html").exists()]
    assert not missing, f"chapters missing from the site: {missing}"


def test_no_page_loads_a_script_from_the_network(site: Path):
    remote = [str(p.relative_to(site)) for p in site.rglob("*.html") if REMOTE_SCRIPT.search(p.read_text())]
    assert not remote, f"pages with <script src=http…>: {remote}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_renders_offline(chapter: str, server: str, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    failed: list[str] = []
    foreign: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))

    def on_request(request) -> None:
        host = urlparse(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host != "127.0.0.1":
            foreign.append(request.url)

    page.on("request", on_request)
    page.goto(f"{server}/notebooks/{chapter}.html", wait_until="load")
    page.wait_for_function(
        "() => document.querySelectorAll('.plotly-graph-div').length === 0 || "
        "[...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))",
        timeout=30_000,
    )
    has_math = page.locator(".math").count() > 0
    if has_math:
        page.wait_for_selector("mjx-container", timeout=30_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{chapter}.png"), full_page=True)

    figures = page.locator(".plotly-graph-div")
    assert figures.count() > 0, "no plotly figure on the page"
    for i in range(figures.count()):
        figure = figures.nth(i)
        assert figure.locator(".main-svg").count() > 0, f"figure {i} did not render"
        traces = figure.locator(".trace, .slice, .hm, .heatmaplayer image, .point, .table .cell-text").count()
        assert traces > 0, f"figure {i} has no drawn traces"
        title = figure.locator(".gtitle")
        assert title.count() > 0 and (title.first.text_content() or "").strip(), f"figure {i} has no title"
    if has_math:
        assert page.locator("mjx-container").count() > 0, "MathJax rendered no math"
    assert not errors, f"page errors: {errors}"
    assert not failed, f"failed requests: {failed}"
    assert not foreign, f"requests that left 127.0.0.1: {foreign}"
    page.close()
