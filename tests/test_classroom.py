"""The classroom kit (`r1mini.classroom`): every chapter opens with its objectives, prerequisites and
measured times and ends with its takeaways; every chapter has graded exercises in nbgrader's format;
nbgrader's `generate_assignment` writes student notebooks that hold no solution line and no hidden
test; and nbgrader's `autograde` gives the instructor's notebook full marks, the untouched student
notebook less (without crashing), and exactly an exercise's points for that exercise.

The tests that run nbgrader (it is the `classroom` extra) are marked `classroom`; those that also
execute a chapter or build the slides, `notebooks` or `book` as well.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from r1mini.classroom import course, times

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = course.chapters()
IDS = [p.stem for p in CHAPTERS]
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.DOTALL)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)


def grader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def regions(nb, pattern: re.Pattern) -> list[str]:
    """The non-blank lines inside `pattern`'s regions in the code cells of `nb`."""
    return [
        line.strip()
        for cell in nb.cells
        if cell.cell_type == "code"
        for region in pattern.findall(cell.source)
        for line in region.splitlines()
        if line.strip()
    ]


# ---- the chapters, as committed ----------------------------------------------------------------------
@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_chapter_opens_with_objectives_and_ends_with_takeaways(path: Path):
    cells = nbformat.read(path, as_version=4).cells
    opening = cells[0].source
    assert opening.startswith("# "), "the first cell opens with the chapter's title"
    objectives = opening.split("**Learning objectives.**")[1].split("**Prerequisites.**")[0]
    assert 3 <= len(re.findall(r"^\* ", objectives, re.MULTILINE)) <= 5, "3-5 learning objectives"
    assert "**Prerequisites.**" in opening
    assert cells[1].source.endswith(f'chapter_times("{path.stem}")'), "the measured times come next"
    assert cells[-1].source.startswith("## Key takeaways\n"), "the last cell holds the takeaways"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_chapter_has_graded_exercises_in_nbgrader_format(path: Path):
    cells = nbformat.read(path, as_version=4).cells
    solutions = [c for c in cells if grader(c).get("solution")]
    tests = [c for c in cells if grader(c).get("grade")]
    assert solutions and len(tests) == len(solutions), "each exercise: a solution cell and a test cell"
    for cell in solutions:
        assert SOLUTION.search(cell.source), f"{grader(cell)['grade_id']}: no ### BEGIN SOLUTION region"
        assert "hide-input" in cell.metadata.get("tags", []), "the website folds the solution"
    for cell in tests:
        assert grader(cell)["points"] > 0 and grader(cell)["locked"]
        assert HIDDEN.search(cell.source), f"{grader(cell)['grade_id']}: no hidden tests"
    ids = [grader(c)["grade_id"] for c in cells if grader(c)]
    assert len(ids) == len(set(ids)), f"grade ids repeat: {ids}"


def test_every_chapter_has_a_measured_run_time():
    data = json.loads(times.RECORD.read_text())
    missing = [p.stem for p in CHAPTERS if p.stem not in data["chapters"]]
    assert not missing, f"run `python -m r1mini.classroom time {' '.join(missing)}`"
    for chapter, entry in data["chapters"].items():
        assert entry["run_s"] > 0 and entry["words"] > 0, chapter


def test_chapter_times_prints_what_was_measured(capsys):
    times.chapter_times(CHAPTERS[0].stem)
    out = capsys.readouterr().out
    entry = json.loads(times.RECORD.read_text())["chapters"][CHAPTERS[0].stem]
    assert f"{entry['run_s']:.0f} s" in out and f"{entry['words']:,} words" in out


# ---- nbgrader: the release ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built_course(tmp_path_factory) -> Path:
    pytest.importorskip("nbgrader", reason="the classroom extra: pip install -e '.[classroom]'")
    return course.build_course(tmp_path_factory.mktemp("course"))


@pytest.mark.classroom
@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_release_holds_no_solution_and_no_hidden_test(path: Path, built_course: Path):
    source = nbformat.read(built_course / "source" / path.stem / path.name, as_version=4)
    released = built_course / "release" / path.stem / path.name
    text = released.read_text()
    release = nbformat.read(released, as_version=4)
    code = "\n".join(c.source for c in release.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
        assert marker not in text, f"{path.stem}: '{marker}' left in the release"
    secret = set(regions(source, SOLUTION) + regions(source, HIDDEN))
    public = {  # the source's lines outside the regions: the chapter may say them anywhere
        line.strip()
        for cell in source.cells
        for line in HIDDEN.sub("", SOLUTION.sub("", cell.source)).splitlines()
    }
    visible = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    leaked = sorted(line for line in secret - public if line in visible)
    assert not leaked, f"{path.stem}: solution or hidden-test lines in the release: {leaked}"
    solutions = [c for c in source.cells if grader(c).get("solution")]
    assert code.count("raise NotImplementedError()") == len(solutions), path.stem


# ---- nbgrader: autograding ---------------------------------------------------------------------------
GRADED = ROOT / "notebooks" / "03_moe.ipynb"  # two exercises (2 and 1 points), a quick chapter


def released(built: Path) -> nbformat.NotebookNode:
    return nbformat.read(built / "release" / GRADED.stem / GRADED.name, as_version=4)


def solve(nb, grade_id: str, source: str) -> None:
    """Put `source` in the solution cell `grade_id` of `nb`, as a learner would."""
    (cell,) = [c for c in nb.cells if grader(c).get("grade_id") == grade_id]
    cell.source = source


def instructor_cell(grade_id: str) -> str:
    (cell,) = [c for c in nbformat.read(GRADED, as_version=4).cells if grader(c).get("grade_id") == grade_id]
    return cell.source


def grade_of(nb, tmp_path: Path):
    path = tmp_path / GRADED.name
    nbformat.write(nb, path)
    return course.grade(path)


@pytest.mark.classroom
@pytest.mark.notebooks
def test_the_instructor_notebook_scores_full_marks():
    result = subprocess.run(
        [sys.executable, "-m", "r1mini.classroom", "grade", str(GRADED)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "score: 3 / 3", result.stdout


@pytest.mark.classroom
@pytest.mark.notebooks
def test_the_release_with_every_solution_filled_in_scores_full_marks(built_course: Path, tmp_path: Path):
    nb = released(built_course)
    for grade_id in ("group_limited_topk", "bias_update"):
        solve(nb, grade_id, instructor_cell(grade_id))
    grade = grade_of(nb, tmp_path)
    assert (grade.score, grade.max_score) == (3, 3), grade.report()


@pytest.mark.classroom
@pytest.mark.notebooks
def test_the_untouched_release_scores_zero_without_crashing(built_course: Path, tmp_path: Path):
    grade = grade_of(released(built_course), tmp_path)
    assert (grade.score, grade.max_score) == (0, 3), grade.report()


@pytest.mark.classroom
@pytest.mark.notebooks
def test_one_exercise_solved_scores_exactly_its_points(built_course: Path, tmp_path: Path):
    nb = released(built_course)
    solve(nb, "bias_update", instructor_cell("bias_update"))
    grade = grade_of(nb, tmp_path)
    assert grade.cells == {"group_limited_topk_tests": (0, 2), "bias_update_tests": (1, 1)}, grade.report()


@pytest.mark.classroom
@pytest.mark.notebooks
def test_a_wrong_solution_loses_exactly_its_points(built_course: Path, tmp_path: Path):
    nb = released(built_course)
    solve(nb, "bias_update", instructor_cell("bias_update"))
    wrong = instructor_cell("group_limited_topk").replace(  # ignores the groups: plain top-k
        "masked.topk(k, dim=-1)", "biased.topk(k, dim=-1)"
    )
    solve(nb, "group_limited_topk", wrong)
    grade = grade_of(nb, tmp_path)
    assert (grade.score, grade.max_score) == (1, 3), grade.report()


# ---- the command line's errors -----------------------------------------------------------------------
def grade_error(path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "r1mini.classroom", "grade", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.cli
def test_grade_reports_a_notebook_it_cannot_grade(tmp_path: Path):
    assert grade_error(tmp_path / "03_moe.ipynb") == f"grade: {tmp_path / '03_moe.ipynb'}: no such file"
    broken = tmp_path / "03_moe.ipynb"
    broken.write_text('{"cells": [')
    assert grade_error(broken).startswith(f"grade: {broken}: not a valid notebook")
    stranger = tmp_path / "homework.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), stranger)
    assert "no chapter of that name" in grade_error(stranger)
    assert "not a notebook" in grade_error(tmp_path)


# ---- the website's pages for teachers ----------------------------------------------------------------
BOOK = ROOT / "book"
SHOTS = BOOK / "_build" / "screenshots"
LINK = re.compile(r"\]\((notebooks/\d\d_\w+)\.ipynb\)")
ISSUE_TERMS = [  # the glossary's terms the course must define (issue #15)
    "MLA",
    "Latent",
    "Absorbed",
    "Routed expert",
    "Shared expert",
    "Group-limited routing",
    "Bias balancing",
    "MTP",
    "GRPO",
    "Advantage",
    "k3",
    "Clip",
    "R1-Zero",
    "Cold start",
    "Rejection sampling",
    "Distillation",
    "pass@k",
    "cons@k",
    "FP8 block scaling",
    "EP",
    "TP",
]


def headings(chapter: str) -> list[str]:
    nb = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    lines = (line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines())
    return [line.lstrip("#").strip() for line in lines if line.startswith("#")]


def test_glossary_defines_the_terms_and_links_each_to_a_chapter():
    text = (BOOK / "glossary.md").read_text()
    entries = re.findall(r"^(\S[^\n]*)\n: (.*?)(?=\n\n|\Z)", text, re.MULTILINE | re.DOTALL)
    terms = [term for term, _ in entries]
    missing = [t for t in ISSUE_TERMS if not any(term.startswith(t) for term in terms)]
    assert not missing, f"the glossary lacks {missing}"
    for term, definition in entries:
        links = LINK.findall(definition)
        assert links, f"{term}: no link to the chapter that runs it"
        for link in links:
            assert (BOOK.parent / f"{link}.ipynb").exists(), f"{term}: {link} is no chapter"


def test_teaching_guide_names_sections_that_exist():
    rows = [line for line in (BOOK / "teaching.md").read_text().splitlines() if line.startswith("| ")]
    checked = 0
    for row in rows:
        link = LINK.search(row)
        number = re.match(r"\| (\d+) \| \"", row)  # the misconceptions table: | chapter | "…" |
        chapter = link.group(1).removeprefix("notebooks/") if link else None
        if number:
            chapter = IDS[int(number.group(1))]
        if chapter is None:
            continue
        names = headings(chapter)
        for section in re.findall(r"\*([^*]+)\*", row):
            assert any(h.startswith(section.rstrip(".:")) for h in names), (chapter, section)
            checked += 1
    assert checked >= 20, checked
    assert len({LINK.search(r).group(1) for r in rows if LINK.search(r)}) == len(CHAPTERS), "12 lessons"


def test_readme_and_site_link_the_guide():
    assert "teaching" in (BOOK / "_toc.yml").read_text() and "glossary" in (BOOK / "_toc.yml").read_text()
    assert "make classroom" in (ROOT / "README.md").read_text()
    assert "python -m r1mini.classroom grade" in (ROOT / "README.md").read_text()
    assert "(teaching.md)" in (BOOK / "intro.md").read_text()


# ---- make classroom: the course and the slides -------------------------------------------------------
@pytest.fixture(scope="module")
def classroom(tmp_path_factory, run_notebook) -> Path:
    """What `make classroom` writes (`python -m r1mini.classroom build`), from the chapters as
    `run_notebook` executed them (the notebook and website tests share those runs)."""
    pytest.importorskip("nbgrader", reason="the classroom extra: pip install -e '.[classroom]'")
    executed = tmp_path_factory.mktemp("executed")
    for path in CHAPTERS:
        run = run_notebook(path)
        assert run.error is None, f"{path.name} failed:\n{run.error}"
        nbformat.write(run.notebook, executed / path.name)
    out = tmp_path_factory.mktemp("classroom")
    command = [sys.executable, "-m", "r1mini.classroom", "build", str(out), "--executed", str(executed)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return out


@pytest.mark.classroom
@pytest.mark.book
def test_make_classroom_writes_source_release_gradebook_and_slides(classroom: Path):
    for path in CHAPTERS:
        for folder in ("source", "release"):
            assert (classroom / folder / path.stem / path.name).exists(), (folder, path.stem)
        assert (classroom / "slides" / f"{path.stem}.slides.html").exists(), path.stem
    assert (classroom / "gradebook.db").exists()
    assert (classroom / "assets" / "checkpoints").is_dir(), "the chapters open ../assets"


@pytest.mark.classroom
@pytest.mark.book
@pytest.mark.parametrize("chapter", IDS)
def test_slide_deck_opens_offline(chapter: str, classroom: Path, serve, browser):
    from urllib.parse import urlparse

    url = serve(classroom)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    failed: list[str] = []
    foreign: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on(
        "request",
        lambda r: (
            foreign.append(r.url)
            if r.url.startswith(("http:", "https:", "ws:", "wss:"))
            and urlparse(r.url).hostname != "127.0.0.1"
            else None
        ),
    )
    page.goto(f"{url}/slides/{chapter}.slides.html", wait_until="load")
    page.wait_for_selector(".reveal.ready", timeout=30_000)
    assert page.locator(".reveal .slides > section").count() > 3, "a deck of slides"
    figures = page.locator(".plotly-graph-div")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))",
        timeout=30_000,
    )
    assert figures.count() > 0, "the chapter's figures are in its deck"
    page.evaluate("() => MathJax.startup.promise")  # MathJax has typeset the deck
    cells = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4).cells
    markdown = [c.source for c in cells if c.cell_type == "markdown"]
    if any("$" in text for text in markdown):
        assert page.locator("mjx-container").count() > 0, "MathJax rendered no math"
    page.keyboard.press("ArrowRight")  # the next slide
    page.wait_for_timeout(300)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"slides-{chapter}.png"))
    assert not errors, f"page errors: {errors}"
    assert not failed, f"failed requests: {failed}"
    assert not foreign, f"requests that left 127.0.0.1: {foreign}"
    page.close()
