"""Checkpoints: round trip, atomic writes, clear errors; transformers-format import and export."""

import json
from pathlib import Path

import pytest
import torch
from helpers import tiny_hf_model

from r1mini import ModelConfig, Transformer
from r1mini.io import (
    atomic_write,
    config_from_hf,
    from_hf_state_dict,
    from_transformers,
    load,
    load_state_dict,
    save,
    to_hf_state_dict,
)

NANO = ModelConfig.preset("nano")


def trained_nano() -> Transformer:
    torch.manual_seed(0)
    model = Transformer(NANO)
    with torch.no_grad():
        for moe in model.moe_layers():
            moe.gate.bias.normal_(0, 0.1)  # state a fresh model would not have
    return model.eval()


def test_round_trip_gives_identical_logits(tmp_path):
    model = trained_nano()
    save(model, tmp_path / "ckpt")
    loaded = load(tmp_path / "ckpt").eval()
    x = torch.randint(0, NANO.vocab_size, (2, 9))
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.config == NANO
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]


def test_tied_embeddings_round_trip(tmp_path):
    model = Transformer(NANO.replace(tie_embeddings=True))
    save(model, tmp_path)
    loaded = load(tmp_path)
    assert loaded.head.weight is loaded.embed.weight
    assert torch.equal(loaded.embed.weight, model.embed.weight)


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("good")

    def crash(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, crash)
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary left behind


def test_mismatched_checkpoint_lists_every_problem(tmp_path):
    save(trained_nano(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(n_mtp_layers=0, dim=48, q_lora_rank=0)  # a different model, same weights file
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError) as error:
        load(tmp_path)
    message = str(error.value)
    assert "checkpoint does not match the model config" in message
    assert "missing keys (2): ['layers.0.attn.wq.weight', 'layers.1.attn.wq.weight']" in message
    assert "unexpected keys" in message and "mtp.0.eh_proj.weight" in message
    assert "embed.weight: checkpoint (64, 32) vs model (64, 48)" in message


def test_corrupt_and_missing_files_are_named(tmp_path):
    save(trained_nano(), tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"model.safetensors could not be read .*corrupt"):
        load(tmp_path)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="has a config but no weights"):
        load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="not an r1mini checkpoint directory"):
        load(tmp_path / "nowhere")


def test_unknown_config_field(tmp_path):
    save(trained_nano(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "n_kv_heads": 2}))
    with pytest.raises(ValueError, match=r"fields r1mini does not know: \['n_kv_heads'\]"):
        load(tmp_path)


def test_per_expert_checkpoint_layout_loads():
    """Released DeepSeek checkpoints list each expert; they load like the fused layout."""
    hf_model = tiny_hf_model()
    fused = hf_model.state_dict()
    per_expert = {}
    for key, t in fused.items():
        if key.endswith("experts.gate_up_proj"):
            base = key.removesuffix("gate_up_proj")
            for j, (gate, up) in enumerate(zip(*t.chunk(2, dim=1), strict=True)):
                per_expert[f"{base}{j}.gate_proj.weight"] = gate
                per_expert[f"{base}{j}.up_proj.weight"] = up
        elif key.endswith("experts.down_proj"):
            base = key.removesuffix("down_proj")
            for j, down in enumerate(t):
                per_expert[f"{base}{j}.down_proj.weight"] = down
        else:
            per_expert[key] = t
    config = config_from_hf(hf_model.config)
    model = Transformer(config)
    load_state_dict(model, from_hf_state_dict(per_expert, config))
    reference = from_transformers(hf_model)
    x = torch.randint(0, config.vocab_size, (1, 7))
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference.eval()(x))


def test_mtp_weights_round_trip_through_hf_names():
    model = trained_nano()
    state = to_hf_state_dict(model)
    mtp_layer = f"model.layers.{NANO.n_layers}."
    assert mtp_layer + "eh_proj.weight" in state and mtp_layer + "shared_head.norm.weight" in state
    back = Transformer(NANO)
    load_state_dict(back, from_hf_state_dict(state, NANO))
    for key, t in model.state_dict().items():
        assert torch.equal(back.state_dict()[key], t), key
