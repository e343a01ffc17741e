"""Shared test set-up.

Triton kernels run in the interpreter when there is no GPU; this must happen before triton is
imported. Tests marked `triton` (and modules that import a
Triton kernel, through `pytest.importorskip`) need the triton package: where it is not installed
(it ships for Linux only) they are skipped and say why; `test_without_triton.py` checks the rest
of r1mini without it. Tests compute on tiny tensors with one thread: two threads gain nothing there, and on a
2-core machine that runs anything else they wait on each other (a test tier measured 30× slower).
Chapter notebooks are executed once per test session (`run_notebook`): the notebook tests
check those runs and the website and slides tests build from the same executed notebooks, which
they open in headless Chromium (`browser`, Debian's, driven by Playwright) from a local server
(`serve`).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from helpers import ANSWERS, NOTEBOOK_BUDGET_S

from r1mini.kernels import triton_available

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not triton_available():
        skip = pytest.mark.skip(reason="needs Triton, which is not installed (it ships for Linux only)")
        for item in items:
            if "triton" in item.keywords:
                item.add_marker(skip)


@dataclass
class Executed:
    """One chapter run top to bottom on a fresh kernel."""

    notebook: object  # nbformat.NotebookNode, with outputs
    seconds: float
    error: str | None  # the failing cell's error, None when every cell ran


@contextmanager
def site_build() -> Iterator[None]:
    """Kernels started inside run the chapter as the website build does (`R1MINI_SITE=1`: views
    compute their states, plotly.js is not inlined), so the website test can build from these runs;
    each exercise's answer box also lists its answer in `ANSWERS`, for the website test alone."""
    before = {name: os.environ.get(name) for name in ("R1MINI_SITE", "R1MINI_ANSWERS")}
    os.environ.update(R1MINI_SITE="1", R1MINI_ANSWERS=str(ANSWERS))
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def run_notebook() -> Callable[[Path], Executed]:
    """`run_notebook(path)` executes a chapter (once per session) and returns the run.

    The kernel is `python3` as seen from the interpreter running pytest (in a virtual environment,
    ipykernel's spec launches that environment's python), so the notebooks import this checkout's
    r1mini. The working directory is the notebook's folder, as in Jupyter and in the book build.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    runs: dict[Path, Executed] = {}
    ANSWERS.unlink(missing_ok=True)  # this session's site build lists its exercises' answers anew

    def run(path: Path) -> Executed:
        if path not in runs:
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(
                nb,
                kernel_name="python3",
                timeout=NOTEBOOK_BUDGET_S,
                resources={"metadata": {"path": str(path.parent)}},
            )
            start = time.perf_counter()
            try:
                with site_build():
                    client.execute()
                error = None
            except CellExecutionError as e:
                error = str(e)
            runs[path] = Executed(nb, time.perf_counter() - start, error)
        return runs[path]

    return run


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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def serve() -> Iterator[Callable[[Path], str]]:
    """`serve(folder)` starts a local HTTP server of `folder` and returns its URL (127.0.0.1);
    every server stops at the end of the session."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(folder))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()


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
