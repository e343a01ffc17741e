"""The command line checks what a run needs before it computes: each problem is one line on stderr
with exit code 2 (no traceback unless --debug), and a diverging run stops, keeping its checkpoint."""

import json
import subprocess
import sys

import pytest
import torch

from r1mini.__main__ import main
from r1mini.config import ModelConfig
from r1mini.io import save
from r1mini.model import Transformer
from r1mini.reasoning.tokenizer import VOCAB_SIZE

TRAIN = ["train", "--preset", "nano", "--steps", "2", "--batch-size", "2"]


def error_of(argv: list[str], capsys) -> str:
    """Run the command, expect exit code 2, return its one line of stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert captured.out == ""  # nothing was computed
    return lines[0]


def test_out_must_be_a_writable_directory(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    message = error_of([*TRAIN, "--out", str(a_file)], capsys)
    assert message == f"python -m r1mini train: error: --out={a_file} is an existing file, not a directory"
    message = error_of([*TRAIN, "--out", str(a_file / "run")], capsys)
    assert f"--out={a_file / 'run'} cannot be written: Not a directory" in message
    assert a_file.read_text() == "mine"


def test_init_and_resume_are_checked_first(tmp_path, capsys):
    message = error_of([*TRAIN, "--init", str(tmp_path / "missing"), "--out", str(tmp_path / "a")], capsys)
    assert f"--init={tmp_path / 'missing'}: " in message and "not an r1mini checkpoint directory" in message
    message = error_of([*TRAIN, "--resume", "--out", str(tmp_path / "b")], capsys)
    assert message.endswith(
        f"--resume: {tmp_path / 'b'} holds no checkpoint to resume (no {tmp_path / 'b'}/checkpoint)"
    )
    diverged = Transformer(ModelConfig.preset("nano", vocab_size=VOCAB_SIZE))
    with torch.no_grad():
        diverged.norm.weight[0] = float("inf")
    save(diverged, tmp_path / "inf")
    message = error_of([*TRAIN, "--init", str(tmp_path / "inf"), "--out", str(tmp_path / "c")], capsys)
    assert "holds NaN or inf in 1 tensors (['norm.weight'])" in message


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--lr", "nan"], "TrainConfig: lr=nan must be a finite number"),
        (["--lr", "inf"], "TrainConfig: lr=inf must be a finite number"),
        (["--lr", "-1"], "TrainConfig: lr=-1.0 must be > 0"),
        (["--log-every", "0"], "--log-every=0 must be >= 1"),
        (["--kinds", "poetry"], "TrainConfig: kinds=('poetry',) must be non-empty, from"),
        (
            ["--template", "r1-zero"],
            "Trainer: with template='r1-zero' and difficulty=None the arithmetic task",
        ),
        (["--difficulty", "30"], "Trainer: with template='r1-chat' and difficulty=30 the arithmetic task"),
    ],
)
def test_bad_settings_are_named(tmp_path, capsys, flags, expected):
    message = error_of([*TRAIN, *flags, "--out", str(tmp_path)], capsys)
    assert expected in message
    assert not (tmp_path / "checkpoint").exists()


def test_grpo_settings_are_checked(tmp_path, capsys):
    grpo = ["grpo", "--preset", "nano", "--steps", "1", "--out", str(tmp_path)]
    assert "GRPOConfig: temperature=nan must be a finite number" in error_of(
        [*grpo, "--temperature", "nan"], capsys
    )
    message = error_of([*grpo, "--kinds", "countdown", "--difficulty", "9"], capsys)
    assert "countdown difficulty=9 must be in 2..7" in message
    message = error_of([*grpo, "--template", "r1-zero"], capsys)
    assert "GRPOTrainer: with template='r1-zero' and difficulty=None the arithmetic task" in message
    assert "more than the model's context, max_seq_len=128" in message


def test_pipeline_checks_its_init_and_out(tmp_path, capsys):
    message = error_of(["pipeline", "r1-zero", "--out", str(tmp_path)], capsys)
    assert message.endswith("pipeline r1-zero starts from a checkpoint: pass --init")
    message = error_of(["pipeline", "r1", "--init", str(tmp_path / "none"), "--out", str(tmp_path)], capsys)
    assert f"--init={tmp_path / 'none'}: " in message
    message = error_of(["pipeline", "base", "--steps", "0", "--out", str(tmp_path)], capsys)
    assert message.endswith("--steps=0 must be >= 1")


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="must be a finite number"):
        main([*TRAIN, "--lr", "nan", "--out", str(tmp_path), "--debug"])


def test_a_diverging_run_stops_at_once_and_keeps_its_last_checkpoint(tmp_path, capsys):
    """lr 1e30: step 1 is fine, step 2's gradient is NaN. The run stops before the NaN reaches the
    weights, exit code 1, and the checkpoint of step 1 stays loadable and finite."""
    argv = [*TRAIN, "--steps", "5", "--lr", "1e30", "--checkpoint-every", "1", "--log-every", "1"]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--out", str(tmp_path)])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("step 1/5 loss ") and "step 2/5" not in captured.out
    assert captured.err == (
        "python -m r1mini train: error: step 2: the gradient norm is nan, not finite; the run stopped "
        f"before updating the model and keeps its last checkpoint, {tmp_path / 'checkpoint'} "
        "(a lower lr or a smaller grad_clip may help)\n"
    )
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["step"] == 1
    with pytest.raises(SystemExit):
        main(["train", "--resume", "--out", str(tmp_path)])  # resumes step 1, diverges again at 2
    assert "step 2: the gradient norm is nan" in capsys.readouterr().err


@pytest.mark.cli
def test_a_real_process_prints_one_line_and_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "r1mini", *TRAIN, "--lr", "nan", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == "python -m r1mini train: error: TrainConfig: lr=nan must be a finite number\n"
