"""r1mini.deployment: serving arithmetic checked against the accounting, the V3 paper's deployment
units (§3.4) and hand-worked examples; expert placement replayed on hand-made and recorded routing."""

import math

import pytest
import torch

from r1mini import ModelConfig, Transformer, count_parameters, kv_cache_bytes_per_token, weight_bytes
from r1mini.accounting import meta_model
from r1mini.deployment import (
    CACHE_KINDS,
    SCHEMES,
    Hardware,
    all_to_all_bytes,
    decode_step,
    expected_distinct_experts,
    expert_bytes,
    expert_gemm_intensity,
    expert_parallel,
    memory_plan,
    min_gpus,
    place_experts,
    simulate_expert_parallel,
    speculative_speedup,
)
from r1mini.model import Experts

V3 = ModelConfig.preset("deepseek-v3-671b")


def test_hardware_ridge_is_flops_over_bandwidth():
    hw = Hardware("test", memory_gb=100, bandwidth_tb_s=4.0, bf16_tflops=800, fp8_tflops=1600)
    assert hw.memory_bytes == 100e9
    assert hw.ridge("bf16") == pytest.approx(200.0)
    assert hw.ridge("fp8") == pytest.approx(400.0)
    assert hw.roofline_seconds(800e12, 1e9, "bf16") == pytest.approx(1.0)  # compute-bound
    assert hw.roofline_seconds(1e12, 8e12, "bf16") == pytest.approx(2.0)  # memory-bound
    with pytest.raises(ValueError, match="bandwidth_tb_s"):
        Hardware("bad", memory_gb=1, bandwidth_tb_s=0, bf16_tflops=1, fp8_tflops=1)
    with pytest.raises(ValueError, match="precision"):
        hw.ridge("fp4")


@pytest.mark.parametrize("precision", ["bf16", "fp8"])
def test_min_gpus_is_the_ceiling_of_weights_over_memory(precision: str):
    weights = weight_bytes(V3)[precision]
    for memory in (80e9, 141e9):
        n = min_gpus(V3, memory, precision)
        assert (n - 1) * memory < weights <= n * memory
    assert min_gpus(V3, 80e9, "bf16") > min_gpus(V3, 80e9, "fp8")


@pytest.mark.parametrize("preset", ["deepseek-v3-671b", "mini"])
def test_expert_bytes_add_up_to_the_routed_experts_of_weight_bytes(preset: str):
    config = ModelConfig.preset(preset)
    n = config.n_moe_layers * config.n_routed_experts
    assert n * expert_bytes(config, "bf16") == 2 * count_parameters(config)["breakdown"]["routed_experts"]
    fp8 = 0  # FP8 bytes of the main model's Experts tensors, counted on the tensors themselves
    for name, module in meta_model(config).named_modules():
        if isinstance(module, Experts) and not name.startswith("mtp."):
            for w in (module.w1, module.w2, module.w3):
                rows, cols = w.shape[-2:]
                fp8 += w.numel() + 4 * w.shape[0] * math.ceil(rows / 128) * math.ceil(cols / 128)
    assert n * expert_bytes(config, "fp8") == fp8


def test_memory_plan_fills_what_the_weights_leave():
    plan = memory_plan(V3, n_gpus=8, memory_bytes=141e9, batch=32, context=32768)
    kv = kv_cache_bytes_per_token(V3)["absorbed_mla"]
    assert plan.weight_bytes == weight_bytes(V3)["fp8"]
    assert plan.free_bytes == pytest.approx(8 * 141e9 - plan.weight_bytes)
    assert plan.max_tokens * kv <= plan.free_bytes < (plan.max_tokens + 1) * kv
    assert plan.max_context == plan.max_tokens // 32 and plan.max_batch == plan.max_tokens // 32768
    assert plan.fits == (plan.kv_bytes <= plan.free_bytes)
    mha = memory_plan(V3, 8, 141e9, 32, 32768, cache="mha")
    assert mha.max_tokens < plan.max_tokens and not mha.fits
    too_small = memory_plan(V3, 1, 80e9, precision="bf16")
    assert too_small.free_bytes < 0 and too_small.max_tokens == 0 and not too_small.fits
    with pytest.raises(ValueError, match="cache"):
        memory_plan(V3, 8, 141e9, cache="gqa")
    with pytest.raises(ValueError, match="n_gpus"):
        memory_plan(V3, 0, 141e9)


def test_expert_parallel_reproduces_the_papers_deployment_units():
    """V3 §3.4: decoding EP320 hosts one expert per GPU on 40 nodes (256 routed + 64 GPUs of
    redundant and shared experts); prefilling EP32 hosts 8 + 1 redundant experts per GPU on 4 nodes."""
    decode = expert_parallel(V3, n_gpus=320, redundant=64)
    assert decode["experts_per_gpu"] == 1 and decode["nodes"] == 40
    prefill = expert_parallel(V3, n_gpus=32, redundant=32)
    assert prefill["experts_per_gpu"] == 9 and prefill["nodes"] == 4
    one = expert_bytes(V3)
    assert prefill["expert_bytes_per_gpu"] == 9 * V3.n_moe_layers * one
    assert decode["activated_expert_bytes"] == V3.n_activated_experts * V3.n_moe_layers * one
    with pytest.raises(ValueError, match="redundant"):
        expert_parallel(V3, 32, redundant=-1)


def test_all_to_all_bytes_fp8_dispatch_bf16_combine():
    out = all_to_all_bytes(V3)
    assert out["dispatch_per_copy"] == V3.dim + 4 * V3.dim // 128  # 7168 E4M3 + 56 fp32 scales
    assert out["combine_per_copy"] == 2 * V3.dim
    assert out["per_layer"] == V3.n_activated_experts * (out["dispatch_per_copy"] + out["combine_per_copy"])
    assert out["per_token"] == out["per_layer"] * V3.n_moe_layers
    by_node = all_to_all_bytes(V3, copies=V3.n_limited_groups)
    assert by_node["per_token"] * V3.n_activated_experts == out["per_token"] * V3.n_limited_groups
    assert all_to_all_bytes(V3, dispatch="bf16")["dispatch_per_copy"] == 2 * V3.dim


def test_expected_distinct_experts_matches_sampling():
    assert expected_distinct_experts(256, 8, 0) == 0
    assert expected_distinct_experts(256, 8, 1) == pytest.approx(8)
    assert expected_distinct_experts(256, 8, 10_000) == pytest.approx(256)
    gen = torch.Generator().manual_seed(0)
    trials = []
    for _ in range(200):
        picks = torch.rand(16, 64, generator=gen).topk(4, dim=-1).indices  # 16 tokens, 4 of 64
        trials.append(picks.unique().numel())
    assert sum(trials) / len(trials) == pytest.approx(expected_distinct_experts(64, 4, 16), rel=0.03)
    with pytest.raises(ValueError, match="k="):
        expected_distinct_experts(8, 9, 1)


def test_decode_step_counts():
    counts = count_parameters(V3)
    matmul = counts["activated"] - counts["breakdown"]["embedding"]
    one = decode_step(V3, batch=1, context=1)
    attention = V3.n_layers * 2 * V3.n_heads * (2 * V3.kv_lora_rank + V3.qk_rope_head_dim)
    assert one["flops"] == 2 * matmul + attention
    assert one["bytes"] == pytest.approx(
        one["dense_weight_bytes"] + one["expert_weight_bytes"] + one["kv_bytes"]
    )
    touched = V3.n_moe_layers * V3.n_activated_experts * expert_bytes(V3)  # one token: its 8 experts
    assert one["expert_weight_bytes"] == pytest.approx(touched)
    assert one["dense_weight_bytes"] + touched < weight_bytes(V3)["fp8"]
    naive = decode_step(V3, 1, 1024, cache="naive_mla")
    absorbed = decode_step(V3, 1, 1024)
    assert naive["kv_bytes"] / absorbed["kv_bytes"] == pytest.approx(
        kv_cache_bytes_per_token(V3)["naive_mla"] / kv_cache_bytes_per_token(V3)["absorbed_mla"]
    )
    intensities = [decode_step(V3, b, 4096)["intensity"] for b in (1, 8, 64, 512)]
    assert intensities == sorted(intensities)  # batching reuses the weights it reads
    with pytest.raises(ValueError, match="cache"):
        decode_step(V3, 1, 1, cache="mha")


def test_expert_gemm_intensity_is_about_two_flops_per_token_per_fp8_byte():
    assert expert_gemm_intensity(V3, 1) == pytest.approx(2.0, rel=0.01)
    assert expert_gemm_intensity(V3, 64) == pytest.approx(128.0, rel=0.05)
    assert expert_gemm_intensity(V3, 64, "bf16") < expert_gemm_intensity(V3, 64)


def test_speculative_speedup():
    assert speculative_speedup(0.0, 0.0) == 1.0
    assert speculative_speedup(0.9, 0.0) == pytest.approx(1.9)
    assert speculative_speedup(0.85, 0.1) == pytest.approx(1.85 / 1.1)
    with pytest.raises(ValueError, match="acceptance"):
        speculative_speedup(1.2, 0.0)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("n_devices", [1, 2, 4, 8])
def test_place_experts_hosts_every_expert_once(scheme: str, n_devices: int):
    load = torch.tensor([5.0, 1, 9, 3, 3, 7, 2, 6])
    devices = place_experts(8, n_devices, scheme, load)
    assert sorted(e for d in devices for e in d) == list(range(8))
    assert all(len(d) == 8 // n_devices for d in devices)


def test_place_experts_layouts():
    assert place_experts(8, 4, "contiguous") == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert place_experts(8, 4, "round_robin") == [[0, 4], [1, 5], [2, 6], [3, 7]]
    load = torch.tensor([10.0, 10, 1, 1, 1, 1, 1, 1])
    balanced = place_experts(8, 2, "balanced", load)
    assert not any({0, 1} <= set(d) for d in balanced)  # the two heavy experts are split


def test_balanced_placement_with_redundant_copies():
    load = torch.tensor([40.0, 4, 4, 4, 4, 4, 4, 4])
    devices = place_experts(8, 4, "balanced", load, redundant_per_device=1)
    assert [len(d) for d in devices] == [3, 3, 3, 3]
    assert all(len(set(d)) == len(d) for d in devices)  # never two copies on one device
    hosted = [e for d in devices for e in d]
    assert sorted(set(hosted)) == list(range(8)) and hosted.count(0) == 4  # the hot expert, 4 copies
    with pytest.raises(ValueError, match="balanced"):
        place_experts(8, 4, "contiguous", load, redundant_per_device=1)
    with pytest.raises(ValueError, match="load"):
        place_experts(8, 4, "balanced")
    with pytest.raises(ValueError, match="divide"):
        place_experts(8, 3)


def test_simulate_expert_parallel_by_hand():
    # 3 tokens, top-2 of 4 experts; experts 0, 1 on device 0 and 2, 3 on device 1
    ids = torch.tensor([[0, 1], [0, 2], [3, 2]])
    home = torch.tensor([0, 0, 1])
    out = simulate_expert_parallel(ids, home, [[0, 1], [2, 3]])
    assert out.load.tolist() == [3, 3]
    assert out.pairs.tolist() == [[2, 1, 0, 0], [0, 0, 2, 1]]
    assert out.traffic.tolist() == [[2, 1], [0, 1]]  # token 1 is the only copy that crosses
    assert out.devices_per_token.tolist() == [1, 2, 1]
    assert out.leaves_home.tolist() == [False, True, False]
    assert out.imbalance == 1.0 and out.remote_copies == 1 and out.remote_share == pytest.approx(0.25)
    # a second copy of expert 0 on device 1 takes every other token of expert 0
    copied = simulate_expert_parallel(ids, home, [[0, 1], [2, 3, 0]])
    assert copied.load.tolist() == [2, 4]
    assert copied.pairs.tolist() == [[1, 1, 0, 0], [1, 0, 2, 1]]  # tokens 0, 1 of expert 0: copies 0, 1
    with pytest.raises(ValueError, match="experts"):
        simulate_expert_parallel(ids, home, [[0, 1], [2]])
    with pytest.raises(ValueError, match="home"):
        simulate_expert_parallel(ids, torch.tensor([0, 0, 2]), [[0, 1], [2, 3]])


def test_simulate_on_recorded_routing():
    config = ModelConfig.preset("nano")
    torch.manual_seed(0)
    model = Transformer(config).eval()
    tokens = torch.randint(0, config.vocab_size, (4, 12))
    with torch.no_grad(), model.recording() as records:
        model(tokens)
    layer = next(i for i, r in enumerate(records) if r["routing"])
    ids = records[layer]["routing"][0]["ids"].reshape(-1, config.n_activated_experts)  # [B*T, k]
    home = torch.arange(4).repeat_interleave(12) * 2 // 4  # rows 0-1 on device 0, 2-3 on device 1
    placement = place_experts(config.n_routed_experts, 2, "contiguous")
    out = simulate_expert_parallel(ids, home, placement)
    assert int(out.load.sum()) == ids.numel()
    assert int(out.traffic.sum()) == int(out.devices_per_token.sum())
    assert int(out.devices_per_token.max()) <= min(2, config.n_activated_experts)


def test_a_streamed_prefill_reads_every_block_once_and_holds_one():
    """The bytes read are the blocks' tensors in the published FP8 layout (less the routers' fp32
    biases, buffers rather than weights), the time adds reading and computing, the memory held is
    the resident embedding and head plus the largest block (bf16) plus the prompt's latent cache."""
    from r1mini.accounting import streamed_weight_bytes
    from r1mini.deployment import streamed_prefill
    from r1mini.io.published import SCALE, expected_tensors, quantized

    config = ModelConfig.preset("deepseek-v3-671b")
    cost = streamed_prefill(config, tokens=512, read_gb_s=4.0, compute_tflops=2.0)
    blocks = 0
    for key, shape in expected_tensors(config.replace(n_mtp_layers=0), fp8=True).items():
        if key.startswith("model.layers.") and not key.endswith("e_score_correction_bias"):
            blocks += math.prod(shape) * (4 if key.endswith(SCALE) else 1 if quantized(key) else 2)
    assert cost["read_bytes"] == blocks
    assert cost["read_seconds"] == pytest.approx(blocks / 4e9)
    assert cost["seconds"] == pytest.approx(cost["read_seconds"] + cost["flops"] / 2e12)
    assert cost["held_bytes"] == streamed_weight_bytes(config) + 512 * 70_272


def test_memory_plans_take_every_cache_the_accounting_counts():
    """Every kind `kv_cache_bytes_per_token` counts can be planned for, at its own bytes per token."""
    v3 = ModelConfig.preset("deepseek-v3-671b")
    kv = kv_cache_bytes_per_token(v3)
    assert set(CACHE_KINDS) == set(kv)
    for kind, nbytes in kv.items():
        assert memory_plan(v3, 8, 141e9, cache=kind).kv_bytes_per_token == nbytes
