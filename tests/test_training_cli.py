"""The command line trains end to end on nano: SFT, then GRPO from its checkpoint, then resume."""

import json

import pytest

from r1mini.__main__ import main
from r1mini.bench.__main__ import main as bench


@pytest.mark.cli
def test_train_then_grpo_then_resume(tmp_path, capsys):
    sft, rl = tmp_path / "sft", tmp_path / "grpo"
    main(
        [
            "train",
            "--preset",
            "nano",
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--kinds",
            "arithmetic",
            "--out",
            str(sft),
            "--log-every",
            "1",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("step 1/2 loss ") and lines[1].startswith("step 2/2 loss ")
    state = json.loads((sft / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2 and state["config"]["kinds"] == ["arithmetic"]

    grpo = [
        "grpo",
        "--init",
        str(sft / "checkpoint"),
        "--steps",
        "2",
        "--prompts-per-step",
        "2",
        "--group-size",
        "4",
        "--max-new-tokens",
        "16",
        "--reward",
        "r1",
        "--kinds",
        "arithmetic,lists",
        "--out",
        str(rl),
    ]
    main(grpo)
    out = capsys.readouterr().out
    assert "step 2/2 reward " in out and " kl " in out
    state = json.loads((rl / "checkpoint" / "state.json").read_text())
    assert state["config"]["kinds"] == ["arithmetic", "lists"]
    assert state["config"]["reward_weights"] == {"accuracy": 1.0, "format": 1.0, "language": 1.0}
    assert (rl / "checkpoint" / "reference" / "model.safetensors").is_file()

    with pytest.raises(SystemExit):
        main(grpo)
    assert "already holds a run; pass --resume to continue it" in capsys.readouterr().err
    main([*grpo, "--resume"])  # already at its last step: resumes, has nothing left to do
    assert "resuming" in capsys.readouterr().out


@pytest.mark.bench
def test_bench_train_prints_both_rates(capsys):
    bench(
        [
            "train",
            "--preset",
            "nano",
            "--sft-steps",
            "1",
            "--batch-size",
            "2",
            "--grpo-steps",
            "1",
            "--prompts",
            "2",
            "--group",
            "2",
            "--new",
            "4",
        ]
    )
    out = capsys.readouterr().out
    assert " tok/s" in out and " steps/min" in out


@pytest.mark.triton
@pytest.mark.cli
def test_training_through_the_triton_kernels_matches_pytorch(tmp_path, capsys):
    """`--kernels triton` (the interpreter on a CPU) gives the losses of the PyTorch backend."""
    losses = {}
    for backend in ("torch", "triton"):
        main(
            [
                "train",
                "--preset",
                "nano",
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--kinds",
                "arithmetic",
                "--out",
                str(tmp_path / backend),
                "--log-every",
                "1",
                "--kernels",
                backend,
            ]
        )
        lines = capsys.readouterr().out.splitlines()
        losses[backend] = [float(line.split(" loss ")[1].split()[0]) for line in lines[:2]]
    assert losses["triton"] == pytest.approx(losses["torch"], rel=1e-4)
