"""Checkpoints: round trip, atomic writes, a manifest that catches any changed byte, clear errors
for every kind of bad checkpoint; transformers-format import and export."""

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import torch
from helpers import tiny_hf_model
from safetensors.torch import load_file, save_file

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
from r1mini.io.checkpoint import write_manifest

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
        "manifest.json",
        "model.safetensors",
    ]
    manifest = json.loads((tmp_path / "ckpt" / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["config.json", "model.safetensors"]
    assert manifest["dtype"] == "float32" and manifest["r1mini_version"] == "0.1.0"
    weights = (tmp_path / "ckpt" / "model.safetensors").read_bytes()
    assert manifest["files"]["model.safetensors"] == {
        "bytes": len(weights),
        "sha256": hashlib.sha256(weights).hexdigest(),
    }


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
    write_manifest(tmp_path, ModelConfig(**config), torch.float32)
    with pytest.raises(ValueError) as error:
        load(tmp_path)
    message = str(error.value)
    assert "checkpoint does not match the model config" in message
    assert "missing keys (2): ['layers.0.attn.wq.weight', 'layers.1.attn.wq.weight']" in message
    assert "unexpected keys" in message and "mtp.0.eh_proj.weight" in message
    assert "embed.weight: checkpoint (64, 32) vs model (64, 48)" in message


def test_corrupt_and_missing_files_are_named(tmp_path):
    model = trained_nano()
    save(model, tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"model.safetensors has changed since it was saved: 1,000 bytes"):
        load(tmp_path)
    write_manifest(tmp_path, model.config, torch.float32)  # whoever truncated it also rewrote the manifest
    with pytest.raises(ValueError, match=r"model.safetensors could not be read .*corrupt"):
        load(tmp_path)
    weights.unlink()
    with pytest.raises(ValueError, match=r"model.safetensors is missing"):
        load(tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"manifest.json is missing: the save of .* never finished"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="not an r1mini checkpoint directory"):
        load(tmp_path / "nowhere")


def test_a_flipped_byte_anywhere_is_caught_and_named(tmp_path):
    """Every byte of the data region (after safetensors' 8-byte length and JSON header) is covered:
    flipping one bit at positions spread over the whole region is refused, naming the file."""
    save(trained_nano(), tmp_path)
    weights = tmp_path / "model.safetensors"
    good = weights.read_bytes()
    data_start = 8 + int.from_bytes(good[:8], "little")
    for position in torch.linspace(data_start, len(good) - 1, 25).long().tolist():
        flipped = bytearray(good)
        flipped[position] ^= 0x01
        weights.write_bytes(bytes(flipped))
        with pytest.raises(ValueError, match=r"model\.safetensors has changed since it was saved"):
            load(tmp_path)
    weights.write_bytes(good)
    load(tmp_path)  # the original bytes load again


def test_config_must_name_every_field(tmp_path):
    model = trained_nano()
    save(model, tmp_path)
    (tmp_path / "config.json").write_text("{}")
    write_manifest(tmp_path, model.config, torch.float32)  # a manifest that agrees: {} still fails
    n_fields = len(dataclasses.fields(ModelConfig))
    with pytest.raises(ValueError, match=rf"does not name every field; missing \({n_fields}\): \['name', "):
        load(tmp_path)
    config = json.loads(json.dumps(dataclasses.asdict(NANO)))
    del config["tie_embeddings"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    write_manifest(tmp_path, model.config, torch.float32)
    with pytest.raises(ValueError, match=r"missing \(1\): \['tie_embeddings'\]"):
        load(tmp_path)


def test_a_config_edited_after_the_save_is_refused(tmp_path):
    save(trained_nano(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "rope_theta": 5000.0}, indent=2))
    with pytest.raises(ValueError, match=r"config\.json has changed since it was saved"):
        load(tmp_path)


def test_non_finite_weights_are_refused_unless_asked(tmp_path):
    model = trained_nano()
    with torch.no_grad():
        model.layers[1].attn.wkv_a.weight[0, 0] = float("nan")
    save(model, tmp_path)
    with pytest.raises(
        ValueError, match=r"holds NaN or inf in 1 tensors \(\['layers.1.attn.wkv_a.weight'\]\)"
    ):
        load(tmp_path)
    assert load(tmp_path, allow_nonfinite=True).layers[1].attn.wkv_a.weight[0, 0].isnan()


def test_dtypes_are_checked_against_the_manifest(tmp_path):
    bf16 = trained_nano().to(torch.bfloat16)
    save(bf16, tmp_path)
    assert load(tmp_path).embed.weight.dtype == torch.bfloat16  # a bf16 checkpoint loads as bf16
    state = load_file(tmp_path / "model.safetensors")
    state["norm.weight"] = state["norm.weight"].float()  # one tensor of another dtype
    save_file(state, tmp_path / "model.safetensors")
    write_manifest(tmp_path, bf16.config, torch.bfloat16)
    with pytest.raises(
        ValueError, match=r"mismatched dtypes \(1\): \['norm.weight: checkpoint torch.float32 vs"
    ):
        load(tmp_path)


def test_tied_embeddings_are_checked_against_the_weights(tmp_path):
    untied = Transformer(NANO)
    save(untied, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "tie_embeddings": True}))
    write_manifest(tmp_path, NANO.replace(tie_embeddings=True), torch.float32)
    with pytest.raises(ValueError, match=r"tie_embeddings=True but the checkpoint.s head\.weight differs"):
        load(tmp_path)

    tied = Transformer(NANO.replace(tie_embeddings=True))
    save(tied, tmp_path / "tied")
    config = json.loads((tmp_path / "tied" / "config.json").read_text())
    (tmp_path / "tied" / "config.json").write_text(json.dumps({**config, "tie_embeddings": False}))
    write_manifest(tmp_path / "tied", NANO, torch.float32)
    with pytest.raises(ValueError, match=r"missing keys \(1\): \['head.weight'\] \(tie_embeddings=False"):
        load(tmp_path / "tied")


def test_a_bad_device_is_reported_as_a_device_problem(tmp_path):
    save(trained_nano(), tmp_path)
    with pytest.raises(ValueError, match=r"device='gpu:0' is not a device torch knows"):
        load(tmp_path, device="gpu:0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cuda:0' is not available: 0 CUDA device\(s\) here"):
            load(tmp_path, device="cuda:0")


def test_unknown_config_field(tmp_path):
    save(trained_nano(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "n_kv_heads": 2}))
    write_manifest(tmp_path, NANO, torch.float32)
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
