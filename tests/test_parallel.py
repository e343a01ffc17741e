"""The model across processes (gloo on CPU, processes spawned here): sharded logits and greedy text
equal one process's, the all-to-all moves the bytes the serving arithmetic predicts, a published
checkpoint is read slice by slice, and data-parallel training equals one process with the same
global batch, resume included. Every check runs inside the spawned processes (an assertion there
fails the test); world sizes 2 and 4 share one spawn each to stay within the time budget."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from r1mini import ModelConfig, Transformer
from r1mini.deployment import all_to_all_bytes
from r1mini.io import load, load_pretrained, save_published
from r1mini.parallel import World, expert_parallel_layers, shard_model, spawn
from r1mini.reasoning import VOCAB_SIZE, encode_prompt
from r1mini.reasoning.generate import generate
from r1mini.training import GRPOConfig, GRPOTrainer, TrainConfig, Trainer

pytestmark = pytest.mark.distributed

R1 = Path(__file__).parents[1] / "assets" / "checkpoints" / "r1"
BASE = R1.with_name("base")
PROMPTS = ["compute 4781+356", "compute 5020-38", "compute 903+7"]


def random_mini() -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig.preset("mini")).eval()


def close(ours: torch.Tensor, theirs: torch.Tensor) -> bool:
    """fp32 logits equal up to 1e-5 of their scale: 1e-5 absolute below magnitude 1 (random
    models); the trained r1's logits reach ~20, where summing in another order moves the last bits."""
    return bool((ours - theirs).abs().max() <= 1e-5 * max(1.0, theirs.abs().max().item()))


def check_inference(rank: int, size: int, published: str) -> None:
    """Prefill and cached decode logits, greedy text, traffic and load, then a sliced load."""
    for name, make in (("r1", lambda: load(R1).eval()), ("mini", random_mini)):
        full, sharded = make(), shard_model(make(), World(rank, size))
        tokens = torch.tensor([encode_prompt(p)[:18] for p in PROMPTS])  # [3, 18]
        with torch.no_grad(), sharded.recording() as records:
            assert close(sharded(tokens[:, :12]), full(tokens[:, :12])), name
            for t in range(12, 18):  # decode through the KV cache, one position at a time
                ours, theirs = sharded(tokens[:, t : t + 1], t), full(tokens[:, t : t + 1], t)
                assert close(ours, theirs), (name, t)
        # the bytes each process sent equal the serving arithmetic for the routing it handled
        layers = expert_parallel_layers(sharded.layers)  # the MTP module is not run
        per_process = sharded.config.n_routed_experts // size
        for layer, record in zip(layers, (r for r in records if r["routing"]), strict=True):
            expected = 0
            for routing in record["routing"]:
                ids = routing["ids"].reshape(-1, routing["ids"].shape[-1])  # [N, k]
                mine = ids[rank::size]
                for owners in (mine // per_process).tolist():
                    copies = len(set(owners) - {rank})
                    expected += all_to_all_bytes(sharded.config, copies, "fp32", "fp32")["per_layer"] // 2
            assert layer.traffic["dispatch"] == expected, (name, layer.traffic, expected)
            both = torch.tensor([layer.traffic["dispatch"], layer.traffic["combine"]])
            dist.all_reduce(both)
            assert both[0] == both[1]  # every row dispatched comes back once
        if name == "r1":
            ids = [encode_prompt(p) for p in PROMPTS]
            greedy = generate(full, ids, 40, temperature=0).generated
            assert generate(sharded, ids, 40, temperature=0).generated == greedy
    full = load_pretrained(published, dtype=torch.float32)
    sharded = load_pretrained(published, dtype=torch.float32, world=World(rank, size))
    held = sum(p.numel() for p in sharded.parameters())
    assert held < 0.7 * sum(p.numel() for p in full.parameters())  # each process read its slices
    tokens = torch.randint(0, full.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert close(sharded(tokens), full(tokens))


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> str:
    """FP8 on 128-aligned widths (slices read block by block) in several shards."""
    torch.manual_seed(0)
    config = ModelConfig.preset(
        "nano",
        dim=256,
        n_heads=4,
        inter_dim=256,
        moe_inter_dim=128,
        q_lora_rank=128,
        kv_lora_rank=128,
        qk_nope_head_dim=32,
        qk_rope_head_dim=32,
        v_head_dim=64,
        vocab_size=256,
    )
    directory = tmp_path_factory.mktemp("published")
    save_published(Transformer(config), directory, fp8=True, max_shard_bytes=100_000)
    return str(directory)


@pytest.mark.parametrize("size", [2, 4])
def test_sharded_inference_equals_one_process(size, published):
    spawn(check_inference, size, published)


# ---- data-parallel training ----------------------------------------------------------------------
NANO = ModelConfig.preset("nano", vocab_size=VOCAB_SIZE)
SFT = TrainConfig(
    steps=3, batch_size=4, checkpoint_every=2, eval_tasks=2, bias_gamma=0.01, balance_alpha=1e-3
)
RL = GRPOConfig(
    steps=3,
    prompts_per_step=4,
    group_size=4,
    max_new_tokens=48,
    checkpoint_every=2,
    eval_tasks=2,
    bias_gamma=0.01,
    loss_type="dapo",  # a token mean over the global batch: the processes' shares must add up
    beta=0.04,
)


def fresh(trainer: type) -> Transformer:
    """SFT trains a fresh nano; GRPO the shipped base, whose samples earn different rewards (a
    fresh model's all score 0: no advantage, no gradient, nothing to compare)."""
    if trainer is GRPOTrainer:
        return load(BASE)
    torch.manual_seed(0)
    return Transformer(NANO)


def check_training(rank: int, size: int, out: str) -> None:
    out = Path(out) / "parallel"
    for name, trainer, config in (("sft", Trainer, SFT), ("grpo", GRPOTrainer, RL)):
        run = trainer(fresh(trainer), config, out_dir=out / name, progress=False)
        run.run(2)  # the checkpoint of step 2, written by process 0 alone
        resumed = trainer.resume(out / name / "checkpoint", progress=False)
        assert resumed.step == 2
        resumed.run()
        if rank == 0:
            save_file(resumed.model.state_dict(), out / f"{name}.safetensors")
            (out / f"{name}.json").write_text(json.dumps(resumed.history))


def test_data_parallel_training_equals_one_process(tmp_path):
    spawn(check_training, 2, str(tmp_path))
    for name, trainer, config in (("sft", Trainer, SFT), ("grpo", GRPOTrainer, RL)):
        single = trainer(fresh(trainer), config, progress=False)
        single.run()
        weights = load_file(tmp_path / "parallel" / f"{name}.safetensors")
        history = json.loads((tmp_path / "parallel" / f"{name}.json").read_text())
        for key, tensor in single.model.state_dict().items():
            assert (weights[key] - tensor).abs().max() <= 1e-5, (name, key)
        assert name == "sft" or any(m["loss"] != 0 for m in history)  # GRPO had advantages to learn from
        for ours, theirs in zip(history, single.history, strict=True):
            assert ours["loss"] == pytest.approx(theirs["loss"], abs=1e-5), name
            assert ours["load_max_over_mean"] == pytest.approx(theirs["load_max_over_mean"], abs=1e-5)
            assert ours["tokens"] == theirs["tokens"]  # counted over both processes
        written = sorted(p.name for p in (tmp_path / "parallel" / name).iterdir())
        assert written == ["checkpoint"]  # one checkpoint, no leftovers from the other process


@pytest.mark.cli
def test_generate_under_torchrun_prints_what_one_process_prints():
    argv = ["-m", "r1mini", "generate", "--checkpoint", "r1", "--temperature", "0", "--max-new-tokens", "40"]
    argv += [flag for p in PROMPTS for flag in ("--prompt", p)]
    one = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120)
    torchrun = Path(sys.executable).with_name("torchrun")
    two = subprocess.run(
        [str(torchrun), "--nproc-per-node", "2", *argv], capture_output=True, text=True, timeout=180
    )
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    assert two.stdout == one.stdout and "<answer>" in one.stdout
