"""The website: `book/build.sh` builds it (from the executed chapters; any warning fails), then headless
Chromium opens every chapter from a local server and checks it works offline: plotly figures draw
their traces, widgets show their static figures, MathJax typesets the math, no page error, no
failed request, no request leaves 127.0.0.1, and no page loads a script from the network. The live
panel of chapter 00 runs the exported checkpoints in the page: its greedy answers to held-out
questions equal `generate_text`'s, and bad input gets r1mini's own message.

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
        timeout=len(labels) * 1_000 + 20_000,  # each frame redraws every trace: slow on a busy CPU
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


# ---- the live panel: the trained model in the reader's browser (chapter 00) ------------------------
LIVE_CASES = [("r1", 0), ("r1", 1), ("r1", 2), ("r1-zero", 3), ("base", 4)]  # (model, held-out question)
LIVE_TIMEOUT_MS = 240_000  # one response, recomputed token by token in the page (WASM, 2 cores shared)


@pytest.fixture(scope="module")
def live_page(server: str, browser):
    """Chapter 00 with its panel ready; collects page errors and requests leaving the machine."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    foreign: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def on_request(request) -> None:
        host = urlparse(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host != "127.0.0.1":
            foreign.append(request.url)

    page.on("request", on_request)
    page.goto(f"{server}/notebooks/00_welcome.html", wait_until="load")
    page.wait_for_function("() => document.getElementById('r1-live-status').dataset.kind === 'ready'")
    page.locator("#r1-live").scroll_into_view_if_needed()
    yield page, errors, foreign
    page.close()


def run_live(page, model: str, problem: str, temperature: float = 0.0) -> str:
    """Type `problem`, choose `model`, press Run; the status's kind when the panel is done."""
    page.fill("#r1-live-prompt", problem)
    page.select_option("#r1-live-model", model)
    page.fill("#r1-live-temperature", str(temperature))
    page.evaluate("() => { document.getElementById('r1-live-status').dataset.kind = ''; }")
    page.click("#r1-live-run")
    page.wait_for_function(
        "() => ['done', 'error'].includes(document.getElementById('r1-live-status').dataset.kind)",
        timeout=LIVE_TIMEOUT_MS,
    )
    return page.get_attribute("#r1-live-status", "data-kind")


def test_live_panel_answers_as_generate_text(live_page):
    """Held-out questions typed into the panel: the streamed greedy text is generate_text's, character
    for character; the rewards are the rules'; the routing heatmap shows the reader's tokens."""
    from r1mini.io import load
    from r1mini.io.checkpoint import SHIPPED
    from r1mini.reasoning import generate_tasks, generate_text
    from r1mini.reasoning.template import render_prompt
    from r1mini.reasoning.tokenizer import split_tokens
    from r1mini.viz.live import verdict

    page, errors, foreign = live_page
    tasks = generate_tasks("arithmetic", 8, seed=7, split="test", difficulty=4)
    models = {name: load(SHIPPED / name) for name in {m for m, _ in LIVE_CASES}}
    timings = []
    for model, question in LIVE_CASES:
        problem = tasks[question].prompt
        assert run_live(page, model, problem) == "done", page.text_content("#r1-live-status")
        want = generate_text(models[model], [problem], temperature=0)[0]
        got = page.text_content("#r1-live-output")
        assert got == want, (model, problem)
        parts = page.eval_on_selector_all("#r1-live-output span", "s => s.map(e => e.dataset.part)")
        if "</think>" in want and want.split("</think>", 1)[1]:
            assert parts[-1] == "answer" and parts[0] == "thinking", parts
        shown = {
            e["name"]: e["value"]
            for e in page.eval_on_selector_all(
                "[data-reward]", "d => d.map(e => ({name: e.dataset.reward, value: e.dataset.value}))"
            )
        }
        expected = verdict(problem, want)
        assert shown == {name: f"{value:g}" for name, (value, _) in expected.items()}, (shown, expected)
        labels = page.evaluate("() => document.getElementById('r1-live-routing').data[0].y")
        tokens = split_tokens(render_prompt(problem))
        assert labels == [f"{i}:{t!r}" for i, t in enumerate(tokens)]
        attention = page.evaluate("() => document.getElementById('r1-live-attention').data[0].z.length")
        assert attention == len(tokens)
        status = page.locator("#r1-live-status")
        timings.append(
            {
                "model": model,
                "problem": problem,
                "tokens": int(status.get_attribute("data-tokens")),
                "load_ms": float(status.get_attribute("data-load-ms")),
                "first_token_ms": float(status.get_attribute("data-first-token-ms")),
                "tokens_per_second": float(status.get_attribute("data-tokens-per-second")),
            }
        )
    page.select_option("#r1-live-span", "all")
    rows = page.evaluate("() => document.getElementById('r1-live-routing').data[0].y.length")
    assert rows > len(tokens)  # the prompt and the response
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#r1-live").screenshot(path=str(SCREENSHOTS / "00_welcome-live.png"))
    (SCREENSHOTS / "live_timing.json").write_text(json.dumps(timings, indent=1))
    print(json.dumps(timings, indent=1))
    assert not errors, f"page errors: {errors}"
    assert not foreign, f"requests that left 127.0.0.1: {foreign}"


def test_live_panel_says_what_is_wrong_with_bad_input(live_page):
    from r1mini.viz.live import check_prompt

    page, errors, _ = live_page
    for problem in ("", "   ", "compute 4é+5", "what is 3<4", "1" * 600):
        assert run_live(page, "r1", problem) == "error", problem
        assert page.text_content("#r1-live-status") == check_prompt(problem, 512)[1]
    assert not errors, f"page errors: {errors}"


def test_live_panel_samples_with_temperature(live_page):
    page, errors, _ = live_page
    assert run_live(page, "r1", "compute 5071+968", temperature=1.2) == "done"
    assert page.text_content("#r1-live-output").startswith("<think>\n")
    assert "temperature 1.2" in page.text_content("#r1-live-status")
    assert not errors, f"page errors: {errors}"


def test_the_pages_tokenizer_and_rules_are_r1minis(live_page):
    """The page's tokenizer, arithmetic and format rule against r1mini's, on random and edge cases."""
    import random

    from r1mini.reasoning.rewards import format_reward
    from r1mini.reasoning.tokenizer import CHARACTERS, SPECIAL_TOKENS, encode
    from r1mini.viz.live import expected_answer

    page, _, _ = live_page
    rng = random.Random(0)
    alphabet = [*CHARACTERS, *SPECIAL_TOKENS, "<", "|", "</think"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    got = page.evaluate(
        "texts => texts.map(t => { try { return r1live.encode(r1live.state.spec, t); }"
        " catch (e) { return null; } })",
        texts,
    )
    for text, ids in zip(texts, got, strict=True):
        try:
            want = encode(text)
        except ValueError:
            want = None
        assert ids == want, text
    responses = [
        "<think>\n1+2=3 c0\n</think>\n<answer>3</answer>",
        "<think>x</think><answer>3</answer> more",
        "<answer>3</answer><think>x</think>",
        " <think></think>\n<answer></answer><eos><pad>",
        "",
        "<think><think></think><answer>1</answer>",
        *texts[:100],
    ]
    rules = page.evaluate("rs => rs.map(r => r1live.formatReward(r1live.state.spec, r))", responses)
    for response, (value, reason) in zip(responses, rules, strict=True):
        want = format_reward(response)
        assert value == want.value, (response, reason, want)
        if not reason.startswith("text "):  # Python quotes the stray text with repr, the page with JSON
            assert reason == want.reason
    prompts = ["compute 478+56", "compute 502-38", " 12*(3+4)--2", "compute 4+", "sort 1 2", "(1+2"]
    values = page.evaluate(
        "ps => ps.map(p => { const v = r1live.expectedAnswer(p); return v === null ? null : v.toString(); })",
        prompts,
    )
    assert values == [None if (v := expected_answer(p)) is None else str(v) for p in prompts]
