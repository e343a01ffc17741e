"""`python -m r1mini generate`: shipped checkpoints, a published-format directory with its own
tokenizer, prompts from stdin, streaming, and one-line errors."""

import io
import subprocess
import sys

import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.__main__ import main
from r1mini.io import load, load_pretrained, save_published
from r1mini.io.published_chat import ASSISTANT, USER, PublishedChat
from r1mini.reasoning import generate_text
from r1mini.reasoning.generate import generate

pytestmark = pytest.mark.cli

SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", USER, ASSISTANT, "<think>", "</think>"]


def run(argv: list[str], capsys, stdin: str | None = None, monkeypatch=None) -> str:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    main(argv)
    return capsys.readouterr().out


def test_shipped_checkpoints_answer_as_generate_text_does(capsys):
    prompts = ["compute 4781+356", "compute 5020-38"]
    out = run(
        [
            "generate",
            "--checkpoint",
            "r1",
            "--temperature",
            "0",
            *[flag for p in prompts for flag in ("--prompt", p)],
        ],
        capsys,
    )
    expected = generate_text(load("assets/checkpoints/r1"), prompts, temperature=0)
    assert out == "".join(
        f"[{i + 1}] {p}\n{r}\n" for i, (p, r) in enumerate(zip(prompts, expected, strict=True))
    )
    assert "<answer>5137</answer>" in out and "<answer>4982</answer>" in out


def test_prompts_from_stdin_and_streaming(capsys, monkeypatch):
    plain = run(
        ["generate", "--checkpoint", "r1-zero", "--seed", "3"], capsys, "compute 4781+356\n\n", monkeypatch
    )
    streamed = run(
        ["generate", "--checkpoint", "r1-zero", "--seed", "3", "--stream"],
        capsys,
        "compute 4781+356\n",
        monkeypatch,
    )
    assert streamed == plain  # the same sampled tokens, printed as they come
    sampled = generate_text(
        load("assets/checkpoints/r1-zero"), ["compute 4781+356"], temperature=0.6, top_p=0.95, seed=3
    )
    assert plain == sampled[0] + "\n"


def tiny_tokenizer(directory) -> None:
    """A byte-level BPE with DeepSeek's special tokens first (ids 0 and 1: bos, eos), saved as the
    published tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(["What is 7*8? Let me think: 7*8 = 56. The answer is 56."] * 20, trainer)
    tokenizer.save(str(directory / "tokenizer.json"))


def test_a_published_directory_with_its_tokenizer(tmp_path, capsys):
    torch.manual_seed(0)
    save_published(Transformer(ModelConfig.preset("nano", vocab_size=320)), tmp_path, fp8=True)
    tiny_tokenizer(tmp_path)
    out = run(
        [
            "generate",
            "--checkpoint",
            str(tmp_path),
            "--prompt",
            "What is 7*8?",
            "--temperature",
            "0",
            "--max-new-tokens",
            "12",
            "--dtype",
            "float32",
        ],
        capsys,
    )
    chat = PublishedChat.from_directory(tmp_path)
    ids = chat.encode("What is 7*8?")
    assert chat.decode(ids).startswith("<｜begin▁of▁sentence｜><｜User｜>What is 7*8?<｜Assistant｜><think>")
    model = load_pretrained(tmp_path, dtype=torch.float32, mtp=False)
    generated = generate(model, [ids], 12, temperature=0, stop_ids=(chat.eos_id,)).generated[0]
    assert out == "<think>\n" + chat.decode([i for i in generated if i != chat.eos_id]) + "\n"
    streamed = run(
        [
            "generate",
            "--checkpoint",
            str(tmp_path),
            "--prompt",
            "What is 7*8?",
            "--temperature",
            "0",
            "--max-new-tokens",
            "12",
            "--dtype",
            "float32",
            "--stream",
            "--stream-weights",
        ],
        capsys,
    )
    assert streamed == out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--checkpoint", "r7", "--prompt", "x"],
            "--checkpoint=r7 is neither a directory nor a shipped checkpoint",
        ),
        (["--checkpoint", "r1", "--prompt", "compute " + "1" * 600], "a prompt takes 6"),
        (
            ["--checkpoint", "r1", "--prompt", "x", "--temperature", "nan"],
            "--temperature=nan must be a finite number",
        ),
        (
            ["--checkpoint", "r1", "--prompt", "x", "--template", "r1"],
            "--template=r1: an r1mini checkpoint takes",
        ),
        (["--checkpoint", "r1", "--prompt", "é"], "not in the vocabulary"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("python -m r1mini generate: error: ")


def test_the_command_in_a_real_process():
    result = subprocess.run(
        [sys.executable, "-m", "r1mini", "generate", "--checkpoint", "r1", "--temperature", "0"],
        input="compute 5020-38\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        result.returncode == 0 and result.stdout.endswith("<answer>4982</answer>\n") and result.stderr == ""
    )
