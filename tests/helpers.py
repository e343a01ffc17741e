"""What several test modules share: a worked arithmetic task, tiny random `transformers` models
(the oracle the parity tests compare against), the check that a figure is labelled, the
notebook time budget, and a machine without a C++ compiler for torch.compile. Test modules import
from here, never from each other.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path

import plotly.graph_objects as go
import torch

from r1mini.reasoning import arithmetic
from r1mini.reasoning.task import Task

ANSWERS = (
    Path(tempfile.gettempdir()) / f"r1mini-answers-{os.getpid()}.jsonl"
)  # the site's exercise answers (tests only)
NOTEBOOK_BUDGET_S = 180  # per chapter, on a 2-core CPU (STYLE.md)


def no_compiler() -> contextlib.AbstractContextManager:
    """Inductor's search for a C++ compiler pointed at one that does not exist, as on a machine
    without one (imported here, not at the top: conftest sets Triton's interpreter up first)."""
    import torch._inductor.config as inductor_config

    return inductor_config.patch({"cpp.cxx": ("no-such-c++-compiler",)})


# ---- an arithmetic task, as the task generator makes it ---------------------------------------------
def arithmetic_task(a: int, operator: str, b: int) -> Task:
    """`compute {a}{operator}{b}` with the generator's reference trace, checker and language."""
    if operator == "+":
        value, lines = a + b, arithmetic.addition_trace(a, b)
    elif operator == "-" and a >= b:
        value, lines = a - b, arithmetic.subtraction_trace(a, b)
    else:
        raise ValueError(f"operator={operator!r} with a={a}, b={b}: use '+', or '-' with a >= b")
    return Task(
        kind=arithmetic.KIND,
        difficulty=len(str(max(a, b))),
        prompt=f"compute {a}{operator}{b}",
        answer=str(value),
        thinking="\n".join(lines),
        checker=functools.partial(arithmetic.check_integer, value),
        language=arithmetic.LANGUAGE,
    )


# 5317-1493 = 3824, and a response that slips in the third column: it forgets the borrow of the
# second column ("3-4-1" instead of "13-4-1") and answers 4024
SLIP_TASK = arithmetic_task(5317, "-", 1493)
SLIP = "<think>\n7-3=4 b0\n11-9=2 b1\n3-4-1=0 b0\n5-1=4 b0\n</think>\n<answer>4024</answer>"


# ---- tiny random transformers DeepSeek-V3 models ----------------------------------------------------
YARN = dict(
    rope_type="yarn",
    rope_theta=10000.0,
    factor=4.0,
    original_max_position_embeddings=16,
    beta_fast=32.0,
    beta_slow=1.0,
    mscale=1.0,
    mscale_all_dim=1.0,
)
# (name, config overrides): q_lora_rank 0 and > 0, YaRN beyond the original length, group-limited
# routing with several group/top-k shapes.
HF_CASES = {
    "plain-rope-no-qlora": dict(q_lora_rank=None),
    "yarn-qlora": dict(q_lora_rank=12, rope_parameters=YARN),
    "one-group-dense2": dict(q_lora_rank=20, n_group=1, topk_group=1, first_k_dense_replace=2),
    "groups8-top4": dict(
        q_lora_rank=None,
        n_routed_experts=16,
        n_group=8,
        topk_group=3,
        num_experts_per_tok=4,
        rope_parameters=YARN,
    ),
}


def tiny_hf_model(dtype: torch.dtype = torch.float32, seed: int = 0, **overrides):
    """A random 3-layer `DeepseekV3ForCausalLM` with non-trivial norms and a random correction bias."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    torch.manual_seed(seed)
    fields = dict(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=48,
        moe_intermediate_size=16,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=4,
        n_shared_experts=1,
        n_routed_experts=8,
        routed_scaling_factor=2.5,
        kv_lora_rank=16,
        q_lora_rank=12,
        qk_rope_head_dim=8,
        v_head_dim=12,
        qk_nope_head_dim=10,
        n_group=4,
        topk_group=2,
        num_experts_per_tok=3,
        first_k_dense_replace=1,
        max_position_embeddings=64,
        rope_parameters=dict(rope_type="default", rope_theta=10000.0),
        num_nextn_predict_layers=0,
        initializer_range=0.1,
    )
    fields.update(overrides)
    config = DeepseekV3Config(**fields)
    config._experts_implementation = "eager"  # the plain per-expert loop (works in float64 too)
    model = DeepseekV3ForCausalLM(config).to(dtype).eval()
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "e_score_correction_bias"):
                module.e_score_correction_bias.normal_(0, 0.1)
            if type(module).__name__.endswith("RMSNorm"):
                module.weight.normal_(1.0, 0.2)
    return model


# ---- figures ---------------------------------------------------------------------------------------
def assert_labelled(fig: go.Figure, axes: bool = True, hover: bool = True) -> None:
    """The figure has traces and a title; with `axes`, titled x and y axes; with `hover`, every
    trace says something on hover (a hover template, or a non-empty hover text per point)."""
    assert len(fig.data) > 0, "the figure has no traces"
    assert fig.layout.title.text, "the figure has no title"
    if axes:
        assert fig.layout.xaxis.title.text, "the x axis has no title"
        assert fig.layout.yaxis.title.text, "the y axis has no title"
    if hover:
        for trace in fig.data:
            texts = trace.hovertext
            if isinstance(texts, str):
                texts = [texts]
            said = bool(trace.hovertemplate) or (texts is not None and all(texts))
            assert said, f"trace {trace.name!r} ({trace.type}) has no hover text"
