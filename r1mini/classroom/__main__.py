"""`python -m r1mini.classroom …`: the classroom kit's command line.

python -m r1mini.classroom build OUT            the nbgrader course in OUT (source/, release/,
                                                gradebook.db) and every chapter as slides (OUT/slides)
python -m r1mini.classroom build OUT --executed DIR   the slides from chapters already executed in DIR
python -m r1mini.classroom grade NOTEBOOK.ipynb autograde one submitted chapter; the last line is
                                                `score: X / Y`
python -m r1mini.classroom time [CHAPTER …]     run chapters and record their measured times
                                                (assets/recorded/chapter_times.json)

A notebook that cannot be graded (missing, not a notebook, not a chapter) is reported as one line
on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from r1mini.classroom import course, times


def executed_chapters(notebooks: list[Path], out: Path) -> list[Path]:
    """Run each chapter as the website build does (`R1MINI_SITE=1`) and save it in `out`."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["R1MINI_SITE"] = "1"
    saved = []
    for notebook in notebooks:
        print(f"executing {notebook.name}", flush=True)
        nb = nbformat.read(notebook, as_version=4)
        NotebookClient(
            nb, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(notebook.parent)}}
        ).execute()
        nbformat.write(nb, out / notebook.name)
        saved.append(out / notebook.name)
    return saved


def build(out: Path, executed: Path | None) -> None:
    from r1mini.classroom.slides import build_slides

    course.build_course(out)  # with out/assets, which the decks in out/slides show as ../assets/*.svg
    print(f"nbgrader course: {out / 'source'} (instructor), {out / 'release'} (students)")
    with tempfile.TemporaryDirectory() as tmp:
        if executed is None:
            notebooks = executed_chapters(course.chapters(), Path(tmp))
        else:
            notebooks = [executed / p.name for p in course.chapters()]
        decks = build_slides(out / "slides", notebooks, sys.executable)
    print(f"slides: {len(decks)} reveal.js decks in {out / 'slides'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m r1mini.classroom", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="the nbgrader course and the slides")
    p.add_argument("out", type=Path)
    p.add_argument("--executed", type=Path, help="take the executed chapters from this folder")
    p = sub.add_parser("grade", help="autograde one submitted chapter notebook")
    p.add_argument("notebook", type=Path)
    p = sub.add_parser("time", help="measure the chapters' run times")
    p.add_argument("chapters", nargs="*", help="e.g. 03_moe (default: every chapter)")
    args = parser.parse_args(argv)

    if args.command == "build":
        if args.executed is not None:
            missing = [p.name for p in course.chapters() if not (args.executed / p.name).exists()]
            if missing:
                print(f"build: --executed {args.executed} lacks {', '.join(missing)}", file=sys.stderr)
                return 2
        build(args.out.resolve(), args.executed)
    elif args.command == "grade":
        try:
            result = course.grade(args.notebook)
        except course.GradingError as e:
            print(f"grade: {e}", file=sys.stderr)
            return 2
        print(result.report())
    else:
        every = course.chapters()
        known = {p.stem: p for p in every}
        unknown = [c for c in args.chapters if c not in known]
        if unknown:
            print(f"time: no chapter {unknown}; chapters are {sorted(known)}", file=sys.stderr)
            return 2
        times.record([known[c] for c in args.chapters] if args.chapters else every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
