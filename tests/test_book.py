"""The website: `book/build.sh` builds it (from the executed chapters; any warning fails), then headless
Chromium opens every chapter from a local server and checks it works offline: plotly figures draw
their traces, widgets show their static figures, MathJax typesets the math, no page error, no
failed request, no request leaves 127.0.0.1, and no page loads a script from the network.

Chromium is Debian's (`apt-get install -y chromium`), driven by Playwright's Python package, which
must never download a browser of its own. Screenshots go to book/_build/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from helpers import ANSWERS

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
SCREENSHOTS = ROOT / "book" / "_build" / "screenshots"
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
def server(site: Path, serve) -> str:
    return serve(site)


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
        drawn = ".trace, .slice, .hm, .heatmaplayer image, .point, .table .cell-text, .annotation-text"
        traces = figure.locator(drawn).count()
        assert traces > 0, f"figure {i} has no drawn traces"
        title = figure.locator(".gtitle")
        assert title.count() > 0 and (title.first.text_content() or "").strip(), f"figure {i} has no title"
    if has_math:
        assert page.locator("mjx-container").count() > 0, "MathJax rendered no math"
    assert not errors, f"page errors: {errors}"
    assert not failed, f"failed requests: {failed}"
    assert not foreign, f"requests that left 127.0.0.1: {foreign}"
    page.close()


# ---- the controls: every view's states, every replay, every exercise -------------------------------
VISIBLE_STATE = """gd => {
    const shown = gd.data.map((t, i) => t.visible === true ? i : -1).filter(i => i >= 0);
    const state = gd.layout.meta.r1mini_states.find(
        s => shown.length === s.traces[1] - s.traces[0] && shown[0] === s.traces[0]);
    return state ? state.values : null; }"""


def click_slider(page, figure, step: int) -> None:
    """Click the slider's rail at tick `step`, as a reader does."""
    tick = figure.locator(".slider-tick-rect").nth(step).bounding_box()
    rail = figure.locator(".slider-rail-touch-rect").bounding_box()
    page.mouse.click(tick["x"] + tick["width"] / 2, rail["y"] + rail["height"] / 2)
    page.wait_for_timeout(150)


def operate_states(page, figure, index: int) -> None:
    """Move the slider and (if any) the menu to two states each; the figure must then show exactly
    the traces Python computed for the values the controls read."""
    meta = figure.evaluate("gd => gd.layout.meta")
    controls = meta["r1mini_controls"]
    first = figure.evaluate(VISIBLE_STATE)
    assert first is not None, f"figure {index}: the visible traces are no state"
    seen = [first]
    menus = figure.locator(".updatemenu-header-group")
    if menus.count():
        items = None
        for pick in (1, -1):
            menus.first.click()
            page.wait_for_timeout(150)
            items = figure.locator(".updatemenu-dropdown-button")
            item = items.nth(pick if pick >= 0 else items.count() - 1)
            label = item.locator("text").first.text_content()
            item.click()
            page.wait_for_timeout(200)
            state = figure.evaluate(VISIBLE_STATE)
            assert state is not None, f"figure {index}: menu '{label}' shows no state"
            wanted = " · ".join(
                f"{name} {state[key]}" for name, key in zip(controls[:-1], state, strict=False)
            )
            assert label == wanted, f"figure {index}: menu '{label}' shows the state {state}"
            seen.append(state)
    ticks = figure.locator(".slider-tick-rect").count()
    for step in (0, ticks - 1):
        click_slider(page, figure, step)
        state = figure.evaluate(VISIBLE_STATE)
        current = figure.locator(".slider-group .slider-label").first.text_content()
        assert state is not None and current.endswith(f": {list(state.values())[-1]}"), (
            index,
            current,
            state,
        )
        seen.append(state)
    assert len({tuple(sorted(s.items())) for s in seen}) >= 2, f"figure {index}: the controls changed nothing"


def play_to_the_end(page, figure, index: int) -> None:
    """Rewind a replay to its first frame, press play, and wait for its last."""
    labels = figure.evaluate("gd => gd.layout.sliders[0].steps.map(s => s.label)")
    click_slider(page, figure, 0)
    page.wait_for_function(
        "gd => gd.layout.sliders[0].active === 0", arg=figure.element_handle(), timeout=10_000
    )  # rewound
    figure.locator(".updatemenu-button").first.click()  # ▶ play
    page.wait_for_function(
        "([gd, last]) => gd.layout.sliders[0].active === last",
        arg=[figure.element_handle(), len(labels) - 1],
        timeout=len(labels) * 400 + 10_000,
    )


def answer(page, box, entry: dict, right: bool) -> str:
    value, kind = entry["expected"], entry["kind"]
    if right:
        typed = repr(value) if kind == "float" else str(value)
    else:
        typed = {"int": str(value + 1), "float": repr(value * 1.5 + 1.0), "bool": str(not value)}.get(
            kind, f"{value}x"
        )
    box.locator("input").fill(typed)
    box.locator("button").click()
    page.wait_for_function(
        "el => el.textContent.length > 0", arg=box.locator(".r1mini-verdict").element_handle()
    )
    text = box.locator(".r1mini-verdict").text_content()
    box.locator(".r1mini-verdict").evaluate("el => el.textContent = ''")
    return text


@pytest.fixture(scope="session")
def answers(site: Path) -> dict[str, dict]:
    """Each exercise box's answer, which the chapters' site build listed (never in the site)."""
    entries = [json.loads(line) for line in ANSWERS.read_text().splitlines()]
    return {entry["salt"][:10]: entry for entry in entries}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_control_works_offline(chapter: str, server: str, browser, answers):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list = []
    page.on("pageerror", lambda e: errors.append(e))
    page.goto(f"{server}/notebooks/{chapter}.html", wait_until="load")
    page.wait_for_timeout(500)
    figures = page.locator(".plotly-graph-div")
    for i in range(figures.count()):
        figure = figures.nth(i)
        kind = figure.evaluate(
            "gd => gd.layout.meta && gd.layout.meta.r1mini_states ? 'states'"
            " : (gd._transitionData && gd._transitionData._frames.length ? 'frames' : 'plain')"
        )
        if kind == "states":
            figure.scroll_into_view_if_needed()
            operate_states(page, figure, i)
        elif kind == "frames":
            figure.scroll_into_view_if_needed()
            play_to_the_end(page, figure, i)
    for view in page.locator("[id^=r1mini-view-]").all():
        menus = view.locator("select")
        before = [d.is_visible() for d in view.locator("[data-state]").all()]
        menus.first.select_option(
            index=menus.first.locator("option").count() - 1 - menus.first.evaluate("m => m.selectedIndex")
        )
        after = [d.is_visible() for d in view.locator("[data-state]").all()]
        assert sum(after) == 1 and after != before, f"{chapter}: a menu view did not switch"
    boxes = page.locator(".r1mini-exercise")
    for i in range(boxes.count()):
        box = boxes.nth(i)
        entry = answers[box.get_attribute("id").removeprefix("r1mini-answer-")]
        assert answer(page, box, entry, right=True).startswith("Correct: "), (chapter, i, entry)
        assert answer(page, box, entry, right=False).startswith("Not quite: "), (chapter, i, entry)
    page.screenshot(path=str(SCREENSHOTS / f"{chapter}-operated.png"), full_page=True)
    assert not errors, f"page errors: {errors}"
    page.close()
