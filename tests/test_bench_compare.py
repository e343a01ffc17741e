"""`python -m r1mini.bench compare`: interleaved rounds that retry and leave out rounds disturbed by
other processes, and a small run of each phase against `transformers` (timings are printed, never
asserted)."""

import argparse
import re
import statistics
import sys
from pathlib import Path

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.bench import compare, rounds
from r1mini.io import save


def fake_machine(monkeypatch, others: list[float]) -> None:
    """Other processes use `others[i]` CPU seconds during the i-th timed round."""
    readings, total = [], 1000.0
    for seconds in others:
        readings += [total, total + seconds]
        total += seconds
    monkeypatch.setattr(rounds, "machine_busy_seconds", iter(readings).__next__)


def test_rounds_alternate_and_disturbed_ones_are_retried_then_left_out(monkeypatch):
    order = []
    # round 0 (a, b): b disturbed once; round 1 (b, a): a disturbed twice; round 2 (a, b): quiet
    fake_machine(monkeypatch, [0, 5, 0, 0, 5, 5, 0, 0])
    times = rounds.interleave(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")}, 3, max_others=0.05, retries=1
    )
    assert order == ["a", "b", "b", "b", "a", "a", "a", "b"]
    assert [len(times[name].samples) for name in "ab"] == [3, 3]
    assert len(times["a"].clean) == 2 and len(times["b"].clean) == 3
    assert times["a"].checked and times["a"].median == statistics.median(times["a"].clean)


def test_rounds_without_proc_stat_are_timed_but_unchecked(monkeypatch, tmp_path):
    monkeypatch.setattr(rounds, "PROC_STAT", tmp_path / "absent")
    times = rounds.interleave({"a": lambda: None}, 2)
    assert not times["a"].checked and len(times["a"].clean) == 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = Transformer(ModelConfig.preset("nano", vocab_size=128))
    return save(model, tmp_path_factory.mktemp("nano") / "model")


def test_each_phase_runs_against_transformers(checkpoint, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # as if TRL were not installed
    parser = argparse.ArgumentParser()
    compare.configure(parser)
    threads = torch.get_num_threads()
    phases = "train,prefill,decode1,grpo"
    small = ["--batch", "4", "--prompts", "4", "--new", "4", "--threads", str(threads), "--phases", phases]
    small += ["--profile", "3"]
    args = parser.parse_args(["--checkpoint", str(checkpoint), "--rounds", "1", "--min-round", "0", *small])
    compare.run(args)
    out = capsys.readouterr().out
    assert "grpo: skipped, TRL is not installed" in out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(table) == 4  # header + train, prefill, decode1
    assert "tokens identical" in table[-1]
    difference = float(table[2].split("largest logit difference ")[1].split()[0])
    assert difference <= 1e-4
    profiles = [line for line in out.splitlines() if "one call under the profiler" in line]
    assert len(profiles) == 3 and all("ATen calls" in line for line in profiles)
    assert re.search(r"forward \d+%, backward \d+%, optimizer \d+%", out)
