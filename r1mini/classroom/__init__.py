"""The classroom kit: teach a course with r1mini.

Every chapter notebook in `notebooks/` is also an nbgrader assignment: its code-writing exercises
carry nbgrader's cell metadata and `### BEGIN SOLUTION` / `### BEGIN HIDDEN TESTS` markers, and
their tests compare the learner's function with r1mini's own on random inputs. From them:

- `course.py`: the nbgrader course (instructor `source/`, student `release/` written by nbgrader's
  `generate_assignment`) and `grade`, nbgrader's `autograde` of one submitted notebook;
- `slides.py`: every executed chapter as an offline reveal.js deck (`nbconvert --to slides`);
- `times.py`: the time to read and to run each chapter, measured, as each chapter shows it;
- `python -m r1mini.classroom build | grade | time` (`__main__.py`), what `make classroom` runs.

nbgrader is an optional dependency (`pip install -e ".[classroom]"`): only building the course
and grading import it.
"""

from r1mini.classroom.times import chapter_times

__all__ = ["chapter_times"]
