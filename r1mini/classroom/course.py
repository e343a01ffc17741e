"""An nbgrader course made of the chapter notebooks: one assignment per chapter, one notebook each.

nbgrader does the work, with its own cell metadata and markers: a solution cell holds
`### BEGIN SOLUTION` … `### END SOLUTION`, a grade cell holds `points` and, between
`### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`, the tests a learner never sees.
`build_course` lays out an nbgrader course directory (with its `nbgrader_config.py`, so nbgrader's
own commands work there too): `source/<chapter>/<chapter>.ipynb` (the
instructor's notebook, copied from `notebooks/`) and `release/<chapter>/<chapter>.ipynb`, written by
nbgrader's `generate_assignment` (solutions replaced by `raise NotImplementedError()`, hidden tests
removed, grade cells locked), with the gradebook that remembers the removed tests. `grade` runs
nbgrader's `autograde` on one submitted notebook in a course of its own: the grade cells are
restored from the instructor's version (a learner cannot edit a test away), the notebook is
executed on a fresh kernel, and each grade cell scores its points if it runs without error.

The chapters open `../assets/…`, as they do in Jupyter; every folder nbgrader runs or writes a
chapter in gets an `assets` link beside it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ASSETS = ROOT / "assets"
COURSE_ID = "r1mini"
STUDENT = "student"  # the one student of `grade`'s own course
CELL_TIMEOUT_S = 600  # per cell when autograding (nbgrader's default, 30 s, is less than a live run)


class GradingError(ValueError):
    """A submission that cannot be graded: its message is one line naming the file and the problem."""


def chapters(source: Path = NOTEBOOKS) -> list[Path]:
    """The chapter notebooks, in reading order."""
    return sorted(source.glob("[0-9][0-9]_*.ipynb"))


def nbgrader_api(root: Path):
    """nbgrader's `NbGraderAPI` on the course directory `root` (gradebook `root/gradebook.db`)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    scripts = str(Path(sys.executable).parent)  # nbgrader's gradebook runs `alembic` from PATH
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    config.Execute.timeout = CELL_TIMEOUT_S
    config.NbGraderAPI.log_level = "WARN"
    return NbGraderAPI(config=config)


def link_assets(folder: Path) -> None:
    """`folder/assets` -> the repository's assets, so `../assets/…` works one level below `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "assets"
    if not link.exists():  # relative, so a copied or moved checkout keeps it
        link.symlink_to(os.path.relpath(ASSETS, folder.resolve()), target_is_directory=True)


def _check(result: dict, what: str) -> None:
    if not result["success"]:
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")


def build_course(root: Path, notebooks: list[Path] | None = None) -> Path:
    """Write the nbgrader course for `notebooks` (default: every chapter) into `root`:
    `source/`, `release/` and `gradebook.db`. Returns `root`."""
    notebooks = chapters() if notebooks is None else notebooks
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(  # so nbgrader's own commands work in `root` too
        "# The r1mini course: `nbgrader autograde CHAPTER`, `nbgrader generate_feedback CHAPTER`, … here.\n"
        "c = get_config()  # noqa: F821 (nbgrader provides it)\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Execute.timeout = {CELL_TIMEOUT_S}\n"
    )
    for folder in (root, root / "source", root / "release"):
        link_assets(folder)
    api = nbgrader_api(root)
    for notebook in notebooks:
        folder = root / "source" / notebook.stem
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, folder / notebook.name)
        _check(api.generate_assignment(notebook.stem), f"generate_assignment {notebook.stem}")
    return root


@dataclass(frozen=True)
class Grade:
    """The autograded score of one submitted chapter: per exercise (grade cell), and in all."""

    chapter: str
    cells: dict[str, tuple[float, float]]  # grade_id -> (score, max_score)
    score: float
    max_score: float

    def report(self) -> str:
        lines = [f"{self.chapter}: autograded by nbgrader"]
        lines += [f"  {name}: {got:g} / {of:g}" for name, (got, of) in self.cells.items()]
        lines.append(f"score: {self.score:g} / {self.max_score:g}")
        return "\n".join(lines)


def grade_ids(notebook: Path) -> list[str]:
    """The grade cells' ids of a notebook, in reading order."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    meta = [c.metadata.get("nbgrader", {}) for c in cells]
    return [m["grade_id"] for m in meta if m.get("grade") and m.get("points")]


def read_submission(path: Path, source: Path = NOTEBOOKS) -> Path:
    """The instructor notebook `path` is a submission of; a `GradingError` if it cannot be graded."""
    import nbformat

    if not path.exists():
        raise GradingError(f"{path}: no such file")
    if path.is_dir() or path.suffix != ".ipynb":
        raise GradingError(f"{path}: not a notebook (expected a chapter's .ipynb file)")
    try:
        with warnings.catch_warnings():  # nbformat's warnings would break the one-line report
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as e:  # nbformat raises several kinds (JSON, schema, version)
        raise GradingError(f"{path}: not a valid notebook ({type(e).__name__}: {e})".splitlines()[0]) from e
    instructor = source / path.name
    if not instructor.exists():
        names = ", ".join(p.name for p in chapters(source))
        raise GradingError(f"{path}: no chapter of that name; a submission keeps its name, one of {names}")
    return instructor


def grade(path: Path, source: Path = NOTEBOOKS) -> Grade:
    """Autograde one submitted chapter notebook with nbgrader, in a course of its own."""
    instructor = read_submission(path, source)
    from nbgrader.api import Gradebook  # the classroom extra; a bad submission is reported first

    chapter = instructor.stem
    with tempfile.TemporaryDirectory(prefix="r1mini-grade-") as tmp:
        root = Path(tmp)
        build_course(root, [instructor])
        submitted = root / "submitted" / STUDENT / chapter
        submitted.mkdir(parents=True)
        shutil.copyfile(path, submitted / instructor.name)
        link_assets(root / "autograded" / STUDENT)
        api = nbgrader_api(root)
        env = {name: os.environ.pop(name) for name in ("R1MINI_SITE", "R1MINI_ANSWERS") if name in os.environ}
        try:  # graded as a learner runs it, not as the website build does
            with warnings.catch_warnings():  # nbgrader's own SQLAlchemy session warnings
                warnings.filterwarnings("ignore", module="nbgrader")
                result = api.autograde(chapter, STUDENT)
        finally:
            os.environ.update(env)
        if not result["success"]:  # e.g. a learner deleted a graded cell
            errors = [line for line in result.get("log", "").splitlines() if "[ERROR]" in line]
            reason = errors[0].split("[ERROR]", 1)[1].strip() if errors else "see nbgrader's log"
            raise GradingError(f"{path}: nbgrader could not autograde it: {reason}")
        with Gradebook(api.coursedir.db_url, COURSE_ID) as gradebook:
            notebook = gradebook.find_submission_notebook(chapter, chapter, STUDENT)
            scores = {g.name: (float(g.score), float(g.max_score)) for g in notebook.grades}
            cells = {name: scores[name] for name in grade_ids(instructor) if name in scores}
            return Grade(chapter, cells, float(notebook.score), float(notebook.max_score))
