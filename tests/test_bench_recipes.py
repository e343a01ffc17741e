"""`python -m r1mini.bench recipes`: the shipped recipes re-run for a step, against their history."""

import pytest

from r1mini.bench.__main__ import main as bench
from r1mini.training.loop import step_seconds


@pytest.mark.bench
def test_a_step_of_each_recipe_is_timed_beside_the_shipped_one(capsys):
    bench(["recipes", "--steps", "1", "--stages", "r1-cold-start,r1-zero"])
    rows = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == {"r1-cold-start", "r1-zero"}
    cold = rows["r1-cold-start"].strip("| ").split(" | ")
    assert cold[1] == "1" and cold[2].endswith(" s") and cold[3].endswith(" s")
    now, then = cold[4].split(" / ")
    assert now == then  # the cold start's SFT reads the same fixed batch as when it was made
    generated = rows["r1-zero"].strip("| ").split(" | ")[5].split(" / ")
    assert all(int(n.replace(",", "")) > 0 for n in generated)


def test_unknown_stages_and_negative_steps_are_refused():
    with pytest.raises(ValueError, match="--stages has \\['r2'\\]"):
        bench(["recipes", "--stages", "r2"])
    with pytest.raises(ValueError, match="--steps=-1 must be >= 0"):
        bench(["recipes", "--steps", "-1"])


def test_step_seconds_reads_the_rate_a_step_measured():
    assert step_seconds({"steps_per_min": 120.0}) == 0.5
    assert step_seconds({"tokens": 3000, "tokens_per_s": 1500.0}) == 2.0
    assert step_seconds({"eval_accuracy": 0.5}) == 0.0
