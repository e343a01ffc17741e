"""r1mini.io.hf's configs: a `ModelConfig` to `transformers`' DeepseekV3Config and back, and what
cannot be converted (the weights: test_parity_transformers.py, test_checkpoint.py)."""

import pytest
from helpers import tiny_hf_model

from r1mini import ModelConfig
from r1mini.io import config_from_hf, config_to_hf


def test_config_hf_round_trip():
    for name in ("deepseek-v3-671b", "mini", "nano"):
        config = ModelConfig.preset(name)
        back = config_from_hf(config_to_hf(config), name=name)
        assert back == config


def test_config_from_hf_tiny_model():
    hf_config = tiny_hf_model(q_lora_rank=None).config
    config = config_from_hf(hf_config)
    assert config.q_lora_rank == 0 and config.n_expert_groups == 4 and not config.uses_yarn


def test_config_from_hf_rejects_what_r1mini_cannot_represent():
    hf_config = config_to_hf(ModelConfig.preset("nano"))
    hf_config.rope_interleave = False
    with pytest.raises(ValueError, match="rope_interleave=False is not supported"):
        config_from_hf(hf_config)


def test_config_to_hf_rejects_softmax_routing():
    with pytest.raises(ValueError, match="score_func='softmax'"):
        config_to_hf(ModelConfig.preset("deepseek-v2-lite-16b"))
