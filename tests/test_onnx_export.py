"""The shipped checkpoints exported to ONNX (`r1mini.io.onnx_export`) compute what r1mini computes.

The export path of the model (traced by `torch.export`: no KV cache, checks on the host, the dense
routed experts) equals its usual forward, and onnxruntime's outputs equal r1mini's on held-out
prompts of several lengths: logits and gate weights to 1e-4, the same experts for every token and
layer, attention probabilities to 1e-5. The exported files go to a temporary folder: they are build
outputs, never committed."""

from __future__ import annotations

import pytest
import torch

from r1mini.io import load
from r1mini.io.checkpoint import SHIPPED
from r1mini.io.onnx_export import OUTPUTS, Inspected, export_onnx, onnx_parity, run_onnx
from r1mini.reasoning import generate_tasks
from r1mini.reasoning.template import encode_prompt
from r1mini.reasoning.tokenizer import VOCAB_SIZE, encode

pytestmark = pytest.mark.integration
CHECKPOINTS = ("r1", "r1-zero", "base")


@pytest.fixture(scope="module")
def prompts() -> list[list[int]]:
    """Held-out questions in the template, and one prompt followed by a reference response."""
    tasks = generate_tasks("arithmetic", 3, seed=1, split="test", difficulty=4)
    ids = [encode_prompt(task.prompt) for task in tasks]
    return [*ids, ids[0] + encode(tasks[0].thinking)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[torch.nn.Module, object]]:
    folder = tmp_path_factory.mktemp("onnx")
    return {
        name: (model := load(SHIPPED / name), export_onnx(model, folder / f"{name}.onnx"))
        for name in CHECKPOINTS
    }


def test_the_export_path_equals_the_usual_forward(prompts):
    """The graph torch.export traces (any length) gives the eager model's logits and routing."""
    model = load(SHIPPED / "r1").eval()
    seq = torch.export.Dim("seq", min=2, max=model.config.max_seq_len)
    example = torch.tensor([prompts[0]])
    with torch.no_grad():
        program = torch.export.export(Inspected(model), (example,), dynamic_shapes={"tokens": {1: seq}})
        for prompt in prompts:
            tokens = torch.tensor([prompt])
            traced = program.module()(tokens)
            eager = Inspected(model)(tokens)
            assert traced[0].shape == (1, len(prompt), model.config.vocab_size)
            assert (traced[0] - model(tokens)).abs().max() <= 1e-5  # the usual forward, fused attention
            assert (traced[0] - eager[0]).abs().max() <= 1e-5
            assert torch.equal(traced[1], eager[1])
            for got, want in zip(traced[2:], eager[2:], strict=True):
                assert (got - want).abs().max() <= 1e-5


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_onnxruntime_equals_r1mini(name, exported, prompts):
    model, path = exported[name]
    worst = onnx_parity(model, path, prompts)
    assert worst["logits"] <= 1e-4, worst
    assert worst["expert_weights"] <= 1e-4, worst
    assert worst["attention"] <= 1e-5, worst
    assert worst["expert_ids_differ"] == 0, worst
    print(f"{name}: {path.stat().st_size:,} bytes; onnxruntime vs r1mini, largest differences: {worst}")


def test_the_graph_takes_any_length_up_to_the_context(exported):
    model, path = exported["r1"]
    config = model.config
    for length in (2, config.max_seq_len):
        tokens = [i % VOCAB_SIZE for i in range(length)]
        got = run_onnx(path, tokens)
        assert got["logits"].shape == (1, length, config.vocab_size)
        moe = config.n_layers - config.n_dense_layers
        assert got["expert_ids"].shape == (moe, length, config.n_activated_experts)
        assert got["attention"].shape == (config.n_layers, config.n_heads, length, length)
        assert set(got) == set(OUTPUTS)
    with torch.no_grad():
        want = model(torch.tensor([tokens]), use_cache=False)
    assert (got["logits"] - want).abs().max() <= 1e-4


def test_the_model_itself_exports_as_a_user_would(tmp_path, prompts):
    """`torch.onnx.export(model, ..., dynamo=True)` of the plain Transformer, with a dynamic sequence
    length, as a reader would try it: onnxruntime's logits equal the model's at other lengths."""
    import numpy as np
    import onnxruntime

    from r1mini.io.onnx_export import quiet_exporter

    model = load(SHIPPED / "r1-zero").eval()
    seq = torch.export.Dim("seq", min=2, max=model.config.max_seq_len)
    path = tmp_path / "model.onnx"
    with torch.no_grad(), quiet_exporter():
        torch.onnx.export(
            model, (torch.tensor([prompts[0]]),), str(path), dynamo=True, dynamic_shapes=({1: seq},)
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for prompt in prompts[1:]:
        (got,) = session.run(None, {session.get_inputs()[0].name: np.asarray([prompt], dtype=np.int64)})
        with torch.no_grad():
            want = model(torch.tensor([prompt]))
        assert np.abs(got - want.numpy()).max() <= 1e-4
