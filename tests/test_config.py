"""ModelConfig: presets and one test per validation rule."""

import pytest

from r1mini import ModelConfig

# (field overrides on the mini preset, words the error message must contain)
RULES = [
    (dict(dim=0), "ModelConfig.dim=0: must be a positive integer"),
    (dict(n_heads=-2), "ModelConfig.n_heads=-2: must be a positive integer"),
    (dict(vocab_size=10.5), "ModelConfig.vocab_size=10.5: must be a positive integer"),
    (dict(n_shared_experts=-1), "ModelConfig.n_shared_experts=-1: must be a non-negative integer"),
    (dict(q_lora_rank=-1), "ModelConfig.q_lora_rank=-1: must be a non-negative integer"),
    (dict(route_scale=0.0), "ModelConfig.route_scale=0.0: must be > 0"),
    (dict(norm_eps=0.0), "ModelConfig.norm_eps=0.0: must be > 0"),
    (dict(score_func="relu"), "ModelConfig.score_func='relu': must be 'sigmoid' (V3) or 'softmax'"),
    (dict(attn_impl="flash"), "ModelConfig.attn_impl='flash': must be 'naive'"),
    (dict(n_dense_layers=5), "ModelConfig.n_dense_layers=5: must be <= n_layers=4"),
    (dict(qk_rope_head_dim=7), "ModelConfig.qk_rope_head_dim=7: must be even"),
    (
        dict(n_expert_groups=3),
        "ModelConfig.n_routed_experts=8: must be divisible by n_expert_groups=3",
    ),
    (dict(n_limited_groups=5), "ModelConfig.n_limited_groups=5: must be <= n_expert_groups=4"),
    (
        dict(n_activated_experts=5),
        "ModelConfig.n_activated_experts=5: must be <= the experts in the kept groups "
        "(n_limited_groups * experts per group = 2 * 2 = 4)",
    ),
    (
        dict(n_expert_groups=8, n_limited_groups=2, n_activated_experts=2),
        "ModelConfig.n_expert_groups=8: with sigmoid routing a group is scored by the sum of its "
        "top-2 experts, so every group needs >= 2 experts",
    ),
    (dict(rope_factor=0.5), "ModelConfig.rope_factor=0.5: must be >= 1"),
    (
        dict(rope_factor=4.0, beta_fast=1.0),
        "ModelConfig.beta_fast=1.0: YaRN needs beta_fast > beta_slow",
    ),
    (dict(original_seq_len=1024), "ModelConfig.original_seq_len=1024: must be <= max_seq_len=512"),
]


@pytest.mark.parametrize(("overrides", "message"), RULES)
def test_each_rule_names_field_value_and_constraint(overrides, message):
    with pytest.raises(ValueError) as error:
        ModelConfig.preset("mini", **overrides)
    assert message in str(error.value)


def test_softmax_groups_of_one_are_allowed():
    """V2's softmax gate scores a group by its best expert, so one expert per group is fine."""
    ModelConfig.preset("mini", score_func="softmax", n_expert_groups=8, n_limited_groups=2)


def test_unknown_preset():
    with pytest.raises(ValueError, match="preset 'gpt-5' is unknown; choose one of"):
        ModelConfig.preset("gpt-5")


@pytest.mark.parametrize("name", ModelConfig.preset_names())
def test_presets_build(name):
    config = ModelConfig.preset(name)
    assert config.name == name
    assert config.replace(attn_impl="naive").attn_impl == "naive"


def test_v3_preset_matches_the_released_config():
    c = ModelConfig.preset("deepseek-v3-671b")
    assert (c.dim, c.n_layers, c.n_dense_layers, c.n_heads) == (7168, 61, 3, 128)
    assert (c.n_routed_experts, c.n_shared_experts, c.n_activated_experts) == (256, 1, 8)
    assert (c.n_expert_groups, c.n_limited_groups, c.route_scale) == (8, 4, 2.5)
    assert (c.q_lora_rank, c.kv_lora_rank, c.qk_head_dim, c.v_head_dim) == (1536, 512, 192, 128)


def test_config_is_immutable():
    with pytest.raises(AttributeError):
        ModelConfig.preset("mini").dim = 3  # change sizes with .replace(), which validates again
