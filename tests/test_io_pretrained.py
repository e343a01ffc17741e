"""Published DeepSeek checkpoints: written here in exactly DeepSeek's format (config.json, index,
several shards, per-expert names, FP8 e4m3 with ragged 128×128 `weight_scale_inv` blocks, MTP at
layer `num_hidden_layers`) from tiny random `transformers` models, then loaded by
`load_pretrained` and checked against `transformers` holding the dequantised weights."""

import json
import math
import re
import shutil

import pytest
import torch
from helpers import tiny_hf_model
from safetensors.torch import load_file, save_file
from transformers import DeepseekV3ForCausalLM

from r1mini import ModelConfig, Transformer
from r1mini.accounting import human
from r1mini.io import config_from_hf, config_to_hf, from_hf_state_dict, load_pretrained, save_published
from r1mini.io.published import expected_tensors, published_bytes, quantized
from r1mini.kernels import act_quant_reference, fp8_gemm_reference
from r1mini.model.fp8 import FP8Experts, FP8Linear
from r1mini.reasoning.generate import generate

FP8 = torch.float8_e4m3fn


def r1mini_with_mtp(hf_model) -> Transformer:
    """The weights of `hf_model` in an r1mini model that also has one (random) MTP module."""
    config = config_from_hf(hf_model.config, n_mtp_layers=1)
    torch.manual_seed(1)
    model = Transformer(config)
    state = model.state_dict()
    state.update(from_hf_state_dict(hf_model.state_dict(), config))
    model.load_state_dict(state)
    return model.eval()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A tiny V3 published with FP8 in several shards, and the transformers model it came from."""
    hf_model = tiny_hf_model()
    directory = tmp_path_factory.mktemp("published")
    save_published(r1mini_with_mtp(hf_model), directory, fp8=True, max_shard_bytes=10_000)
    return directory, hf_model


def dequantize_files(directory) -> dict[str, torch.Tensor]:
    """Every tensor of a published directory in fp32, FP8 ones multiplied by their block scales:
    written here from DeepSeek's description of the format, independently of r1mini."""
    index = json.loads((directory / "model.safetensors.index.json").read_text())["weight_map"]
    tensors = {}
    for shard in sorted(set(index.values())):
        tensors.update(load_file(directory / shard))
    out = {}
    for key, t in tensors.items():
        if key.endswith("weight_scale_inv"):
            continue
        if t.dtype == FP8:
            scale = tensors[key.removesuffix("weight") + "weight_scale_inv"]
            rows, cols = t.shape
            assert scale.shape == (math.ceil(rows / 128), math.ceil(cols / 128))  # ragged edge blocks
            full = scale.repeat_interleave(128, 0)[:rows].repeat_interleave(128, 1)[:, :cols]
            out[key] = t.float() * full
        else:
            out[key] = t.float()
    return out


def transformers_from_files(directory, hf_config) -> DeepseekV3ForCausalLM:
    """transformers' DeepseekV3 holding the dequantised published weights (experts fused back)."""
    tensors = dequantize_files(directory)
    reference = DeepseekV3ForCausalLM(hf_config).float().eval()
    state = {}
    for key in reference.state_dict():
        if key.endswith("experts.gate_up_proj"):
            base = key.removesuffix("gate_up_proj")
            n = hf_config.n_routed_experts
            gate = torch.stack([tensors[f"{base}{e}.gate_proj.weight"] for e in range(n)])
            up = torch.stack([tensors[f"{base}{e}.up_proj.weight"] for e in range(n)])
            state[key] = torch.cat([gate, up], dim=1)
        elif key.endswith("experts.down_proj"):
            base = key.removesuffix("down_proj")
            state[key] = torch.stack(
                [tensors[f"{base}{e}.down_proj.weight"] for e in range(hf_config.n_routed_experts)]
            )
        elif not key.endswith("inv_freq"):
            state[key] = tensors[key]
    reference.load_state_dict(state, strict=False)
    return reference


def test_the_directory_is_in_deepseeks_format(published):
    directory, hf_model = published
    config = json.loads((directory / "config.json").read_text())
    assert config["model_type"] == "deepseek_v3" and config["num_nextn_predict_layers"] == 1
    assert config["quantization_config"] == {
        "activation_scheme": "dynamic",
        "fmt": "e4m3",
        "quant_method": "fp8",
        "weight_block_size": [128, 128],
    }
    index = json.loads((directory / "model.safetensors.index.json").read_text())["weight_map"]
    assert len(set(index.values())) >= 6  # several shards
    tensors = {}
    for shard in set(index.values()):
        tensors.update(load_file(directory / shard))
    n_layers = hf_model.config.num_hidden_layers
    mtp = f"model.layers.{n_layers}."
    for name in ("embed_tokens", "enorm", "hnorm", "eh_proj", "shared_head.norm", "shared_head.head"):
        assert mtp + name + ".weight" in tensors
    assert tensors[mtp + "self_attn.q_a_proj.weight"].dtype == FP8
    assert tensors[mtp + "eh_proj.weight"].dtype == torch.bfloat16  # the release keeps it in bf16
    expert = "model.layers.1.mlp.experts.7.down_proj.weight"
    assert tensors[expert].dtype == FP8 and tensors[expert[:-6] + "weight_scale_inv"].dtype == torch.float32
    assert tensors["model.layers.1.mlp.gate.weight"].dtype == torch.bfloat16
    assert tensors["model.layers.1.mlp.gate.e_score_correction_bias"].dtype == torch.float32
    assert tensors["model.embed_tokens.weight"].dtype == torch.bfloat16


def test_logits_equal_transformers_holding_the_dequantized_weights(published):
    directory, hf_model = published
    model = load_pretrained(directory, dtype=torch.float32)
    reference = transformers_from_files(directory, hf_model.config)
    tokens = torch.randint(0, hf_model.config.vocab_size, (2, 13), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model(tokens), reference(tokens).logits
    assert (ours - theirs).abs().max() <= 1e-5
    # the MTP module is loaded too: its tensors are the files' (dequantised) values
    tensors = dequantize_files(directory)
    layer = hf_model.config.num_hidden_layers
    assert torch.equal(model.mtp[0].eh_proj.weight, tensors[f"model.layers.{layer}.eh_proj.weight"])
    assert torch.equal(
        model.mtp[0].block.attn.wkv_b.weight, tensors[f"model.layers.{layer}.self_attn.kv_b_proj.weight"]
    )
    assert model.layers[1].ffn.gate.bias.dtype == torch.float32
    without = load_pretrained(directory, dtype=torch.float32, mtp=False)
    assert len(without.mtp) == 0
    with torch.no_grad():
        assert torch.equal(without(tokens), ours)


def test_bf16_load_and_the_published_config_round_trip(published):
    directory, hf_model = published
    model = load_pretrained(directory)  # bf16 by default
    assert (
        model.embed.weight.dtype == torch.bfloat16
        and model.layers[0].attn.wq_a.weight.dtype == torch.bfloat16
    )
    expected = config_from_hf(hf_model.config, n_mtp_layers=1)
    assert model.config.replace(name=expected.name) == expected


def test_streaming_gives_the_resident_logits_with_one_block_in_memory(published):
    directory, hf_model = published
    resident = load_pretrained(directory, dtype=torch.float32)
    streamed = load_pretrained(directory, dtype=torch.float32, stream=True)
    assert all(p.is_meta for p in streamed.layers.parameters())  # nothing of the blocks until needed
    tokens = torch.randint(0, hf_model.config.vocab_size, (3, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(streamed(tokens), resident(tokens))
    stream = streamed.weight_stream
    assert stream.reads == hf_model.config.num_hidden_layers  # the MTP module is not run for logits

    def nbytes(module) -> int:
        return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])

    always = sum(nbytes(m) for m in (resident.embed, resident.norm, resident.head, resident.rope))
    assert stream.peak_bytes == always + max(nbytes(block) for block in resident.layers)
    assert stream.resident_bytes() == always  # every block freed again

    # routing and attention recorded over a prompt, as the chapters' full-size views need
    with resident.recording() as expected, torch.no_grad():
        resident(tokens)
    with streamed.recording() as records, torch.no_grad():
        streamed(tokens)
    for ours, theirs in zip(records, expected, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(ours["attention"], theirs["attention"], strict=True))
        for a, b in zip(ours["routing"], theirs["routing"], strict=True):
            assert torch.equal(a["ids"], b["ids"]) and torch.equal(a["weights"], b["weights"])

    prompts = [[3, 4, 5, 6], [7, 8]]
    greedy = generate(resident, prompts, 6, temperature=0, stop_ids=())
    assert generate(streamed, prompts, 6, temperature=0, stop_ids=()).generated == greedy.generated


def test_fp8_keep_runs_the_fp8_gemm(tmp_path):
    """Widths that are multiples of 128, so every linear but the experts runs `fp8_gemm`."""
    torch.manual_seed(0)
    config = ModelConfig.preset(
        "nano", dim=128, q_lora_rank=128, kv_lora_rank=128, inter_dim=256, moe_inter_dim=128, v_head_dim=64
    )
    save_published(Transformer(config), tmp_path, fp8=True)
    kept = load_pretrained(tmp_path, dtype=torch.float32, fp8="keep")
    wq_a = kept.layers[1].attn.wq_a
    assert isinstance(wq_a, FP8Linear) and wq_a.weight.dtype == FP8 and wq_a.weight_scale_inv.shape == (1, 1)
    assert isinstance(kept.layers[1].ffn.experts, FP8Experts) and kept.layers[1].ffn.experts.w2.dtype == FP8
    assert type(kept.mtp[0].eh_proj) is torch.nn.Linear  # stored in bf16: not FP8
    x = torch.randn(5, 128)
    with torch.no_grad():
        expected = fp8_gemm_reference(
            *act_quant_reference(x), wq_a.weight, wq_a.weight_scale_inv, torch.float32
        )
        assert torch.equal(wq_a(x), expected)
    dequantized = load_pretrained(tmp_path, dtype=torch.float32)
    tokens = torch.randint(0, config.vocab_size, (2, 10), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = kept(tokens), dequantized(tokens)
    relative = ((a - b).norm() / b.norm()).item()
    assert 0 < relative < 0.05  # only the activations' FP8 rounding differs


def test_the_671b_names_and_shapes_are_transformers_with_per_expert_weights_and_scales():
    """No weights: both models on the meta device. transformers' DeepseekV3 (fused experts, no MTP)
    expanded to the per-expert names of the release, each 2-D block weight but the router's with a
    `weight_scale_inv` of ceil(rows/128) × ceil(cols/128), equals what r1mini expects."""
    config = ModelConfig.preset("deepseek-v3-671b")
    with torch.device("meta"):
        hf_model = DeepseekV3ForCausalLM(config_to_hf(config))
    theirs = {}
    for key, t in hf_model.state_dict().items():
        if key.endswith("inv_freq"):
            continue
        if key.endswith("experts.gate_up_proj"):
            base = key.removesuffix("gate_up_proj")
            for e in range(t.shape[0]):
                theirs[f"{base}{e}.gate_proj.weight"] = theirs[f"{base}{e}.up_proj.weight"] = (
                    t.shape[1] // 2,
                    t.shape[2],
                )
        elif key.endswith("experts.down_proj"):
            base = key.removesuffix("down_proj")
            theirs.update({f"{base}{e}.down_proj.weight": tuple(t.shape[1:]) for e in range(t.shape[0])})
        else:
            theirs[key] = tuple(t.shape)
    for key, shape in list(theirs.items()):
        if key.startswith("model.layers.") and len(shape) == 2 and not key.endswith("mlp.gate.weight"):
            theirs[key.removesuffix("weight") + "weight_scale_inv"] = (
                math.ceil(shape[0] / 128),
                math.ceil(shape[1] / 128),
            )
    ours = expected_tensors(config, fp8=True)
    main = {k: v for k, v in ours.items() if not k.startswith("model.layers.61.")}
    assert main == theirs
    assert len([k for k in theirs if k.endswith("weight_scale_inv")]) == 61 * 5 + 3 * 3 + 58 * (256 * 3 + 3)
    # layer 61 is a full block like layer 60, plus the MTP's own tensors
    mtp = {k.replace("model.layers.61.", ""): v for k, v in ours.items() if k.startswith("model.layers.61.")}
    block = {
        k.replace("model.layers.60.", ""): v for k, v in ours.items() if k.startswith("model.layers.60.")
    }
    extra = {k: v for k, v in mtp.items() if k not in block}
    assert {k: v for k, v in mtp.items() if k in block} == block
    assert extra == {
        "embed_tokens.weight": (129280, 7168),
        "enorm.weight": (7168,),
        "hnorm.weight": (7168,),
        "eh_proj.weight": (7168, 14336),
        "shared_head.norm.weight": (7168,),
        "shared_head.head.weight": (129280, 7168),
    }
    assert not quantized("model.layers.61.eh_proj.weight") and quantized(
        "model.layers.61.mlp.experts.3.up_proj.weight"
    )


@pytest.mark.bench
def test_info_and_the_bench_read_a_published_checkpoint(published, capsys):
    from r1mini.__main__ import main
    from r1mini.bench.__main__ import main as bench

    main(["info", "--config", str(published[0] / "config.json")])
    out = capsys.readouterr().out
    assert out.startswith(
        "deepseek_v3: 3 blocks (1 dense + 2 MoE), dim 32, 4 heads, 8 routed experts (top-3)"
    )
    index = json.loads((published[0] / "model.safetensors.index.json").read_text())
    config = config_from_hf(published[1].config, n_mtp_layers=1)
    assert index["metadata"]["total_size"] == published_bytes(config)
    assert (
        f"Published checkpoint (r1mini.io.save_published's layout): {human(published_bytes(config), 'B')}"
        in out
    )
    bench(["pretrained", "--prompt", "8", "--new", "2", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "resident" in out and "streamed / resident: decode" in out


# ---- every error names the problem, before any weight is read ---------------------------------------
def copy_of(published, tmp_path):
    directory = tmp_path / "copy"
    shutil.copytree(published[0], directory)
    return directory


def shard_holding(directory, key: str):
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    return directory / index["weight_map"][key], index


def rewrite(directory, key: str, change) -> None:
    """Rewrite the shard holding `key` with `change(tensors)` applied, and the index to match."""
    path, index = shard_holding(directory, key)
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if v != path.name or k in tensors}
    index["weight_map"].update(dict.fromkeys(tensors, path.name))
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))


KEY = "model.layers.1.self_attn.q_b_proj.weight"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: shard_holding(d, KEY)[0].unlink(), r"model-000\d\d-of-000\d\d\.safetensors is missing"),
        (lambda d: rewrite(d, KEY, lambda t: t.pop(KEY)), rf"missing tensors \(1\): \['{re.escape(KEY)}'\]"),
        (
            lambda d: rewrite(
                d, KEY, lambda t: t.update({"model.layers.1.mlp.extra.weight": torch.zeros(2)})
            ),
            r"unexpected tensors \(1\): \['model\.layers\.1\.mlp\.extra\.weight'\]",
        ),
        (
            lambda d: rewrite(d, KEY, lambda t: t.update({KEY: t[KEY][:, :5].contiguous()})),
            rf"wrong shapes \(1\): \['{re.escape(KEY)}: checkpoint \[\d+, 5\] vs config \[\d+, 12\]'\]",
        ),
        (
            lambda d: rewrite(d, KEY, lambda t: t.update({KEY: t[KEY].to(torch.int8)})),
            rf"wrong dtypes \(1\): \['{re.escape(KEY)}: I8'\]",
        ),
        (
            lambda d: rewrite(d, KEY, lambda t: t.update({KEY[:-6] + "weight_scale_inv": torch.ones(2, 2)})),
            r"FP8 scales \(1\): .*weight_scale_inv: F32 \[2, 2\], expected F32 \[1, 1\]",
        ),
        (
            lambda d: rewrite(
                d, KEY, lambda t: t.update({KEY[:-6] + "weight_scale_inv": torch.ones(1, 1).double()})
            ),
            r"FP8 scales \(1\): .*weight_scale_inv: F64 \[1, 1\], expected F32 \[1, 1\]",
        ),
    ],
)
def test_a_damaged_checkpoint_is_refused_naming_the_problem(published, tmp_path, damage, message):
    directory = copy_of(published, tmp_path)
    damage(directory)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_pretrained(directory)


def test_an_fp8_weight_without_its_scale_and_unknown_configs_are_refused(published, tmp_path):
    directory = copy_of(published, tmp_path)
    rewrite(directory, KEY, lambda t: t.pop(KEY[:-6] + "weight_scale_inv"))
    with pytest.raises(
        ValueError, match=rf"{re.escape(KEY)} is FP8 but the checkpoint has no weight_scale_inv"
    ):
        load_pretrained(directory)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    with pytest.raises(ValueError, match=r"model_type='llama' is not one r1mini loads"):
        load_pretrained(directory)
    quant = {**config["quantization_config"], "fmt": "e5m2"}
    (directory / "config.json").write_text(json.dumps({**config, "quantization_config": quant}))
    with pytest.raises(ValueError, match=r"is not DeepSeek's FP8"):
        load_pretrained(directory)


@pytest.mark.parametrize("groups", [1, 4])
def test_a_bf16_deepseek_v2_checkpoint_loads(tmp_path, groups):
    """V2 and V2-Lite are published in bf16 (no quantization_config) with a softmax router and no
    correction bias or MTP; `groups` 1 is V2-Lite's plain top-k, 4 V2's group-limited routing."""
    config = ModelConfig.preset(
        "nano",
        score_func="softmax",
        n_mtp_layers=0,
        q_lora_rank=0,
        n_expert_groups=groups,
        n_limited_groups=min(groups, 2),
        norm_topk_prob=False,
        route_scale=16.0,
    )
    torch.manual_seed(0)
    model = Transformer(config).eval()
    save_published(model, tmp_path, fp8=False)
    raw = json.loads((tmp_path / "config.json").read_text())
    assert raw["model_type"] == "deepseek_v2" and "quantization_config" not in raw
    loaded = load_pretrained(tmp_path, dtype=torch.float32)
    assert loaded.config.replace(name=config.name) == config
    rounded = Transformer(config).eval()
    rounded.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in model.state_dict().items()})
    tokens = torch.randint(0, config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(loaded(tokens), rounded(tokens))
