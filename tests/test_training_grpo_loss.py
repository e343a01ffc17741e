"""GRPO maths against hand computations: group advantages, next-token log-probs, and the four loss
aggregations (values and gradients), plus TRL's published semantics written out as a second oracle."""

import math

import pytest
import torch

from r1mini.training import LOSS_TYPES, group_advantages, grpo_loss, sequence_logprobs

# A batch of B = 3 responses, T = 5 positions. Row 0 has a prompt token at t = 0, row 1 trailing
# padding, row 2 is full: response lengths 4, 2, 5. The ratios ρ = exp(logp − old_logp) put tokens
# on every side of the clip range [0.8, 1.2] (or [0.8, 1.28] with clip-higher), for Â > 0 and Â < 0.
RATIOS = [
    [3.0, 1.5, 0.9, 0.7, 1.1],  # Â > 0: 1.5 clipped high; 0.7 below 0.8 but not clipped (min keeps ρÂ)
    [0.5, 1.4, 1.0, 9.0, 9.0],  # Â < 0: 0.5 clipped low; 1.4 above 1.2 but not clipped
    [1.0, 1.25, 1.1, 0.75, 1.35],  # Â > 0: 1.25 clipped only without clip-higher; 1.35 clipped either way
]
MASK = [[0, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
ADVANTAGES = [1.5, -0.5, 0.8]
LOGP = [[-1.2, -0.3, -2.0, -0.7, -1.6], [-0.4, -2.5, -0.9, -1.1, -0.2], [-0.6, -1.3, -0.8, -2.2, -0.5]]
REF_SHIFT = [[0.5, 0.2, -0.3, 0.1, -0.4], [-0.2, 0.6, 0.3, 0.0, 0.1], [0.05, -0.5, 0.4, -0.1, 0.25]]


def batch(requires_grad: bool = True) -> dict[str, torch.Tensor]:
    """The hand-built batch above as float64 tensors."""
    logp = torch.tensor(LOGP, dtype=torch.float64, requires_grad=requires_grad)
    old_logp = torch.tensor(LOGP, dtype=torch.float64) - torch.tensor(RATIOS, dtype=torch.float64).log()
    ref_logp = torch.tensor(LOGP, dtype=torch.float64) + torch.tensor(REF_SHIFT, dtype=torch.float64)
    return {
        "logp": logp,
        "old_logp": old_logp,
        "ref_logp": ref_logp,
        "advantages": torch.tensor(ADVANTAGES, dtype=torch.float64),
        "mask": torch.tensor(MASK, dtype=torch.bool),
    }


def hand_loss_and_grad(
    loss_type: str, beta: float, eps_low: float, eps_high: float, max_len: int
) -> tuple[float, list[list[float]]]:
    """Loss and dLoss/dlogp from the formulas, one token at a time, in Python floats."""
    b, t = len(LOGP), len(LOGP[0])
    lengths = [sum(row) for row in MASK]
    n_tokens = sum(lengths)
    total, grad = 0.0, [[0.0] * t for _ in range(b)]
    for i in range(b):
        a = ADVANTAGES[i]
        for j in range(t):
            if not MASK[i][j]:
                continue
            rho = RATIOS[i][j]
            clipped = min(max(rho, 1 - eps_low), 1 + eps_high)
            unclipped_term, clipped_term = rho * a, clipped * a
            term = -min(unclipped_term, clipped_term)
            # d(−ρÂ)/dlogp = −ρÂ when the unclipped term is the min, 0 when the clipped constant is
            dterm = -rho * a if unclipped_term <= clipped_term else 0.0
            if beta:
                d = REF_SHIFT[i][j]  # ref_logp − logp
                term += beta * (math.exp(d) - d - 1)
                dterm += beta * (1 - math.exp(d))  # d/dlogp of exp(ref − logp) − (ref − logp) − 1
            if loss_type == "grpo":
                weight = 1 / (b * lengths[i])
            elif loss_type == "dr_grpo":
                weight = 1 / (b * max_len)
            else:  # bnpo, dapo
                weight = 1 / n_tokens
            total += weight * term
            grad[i][j] = weight * dterm
    return total, grad


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("beta", [0.0, 0.1])
@pytest.mark.parametrize("clip_eps_high", [None, 0.28])
def test_loss_and_gradient_match_hand_formula(loss_type: str, beta: float, clip_eps_high: float | None):
    inputs = batch()
    if not beta:
        inputs["ref_logp"] = None
    loss, _ = grpo_loss(**inputs, beta=beta, clip_eps_high=clip_eps_high, loss_type=loss_type)
    loss.backward()
    eps_high = 0.2 if clip_eps_high is None else clip_eps_high
    want, want_grad = hand_loss_and_grad(loss_type, beta, 0.2, eps_high, max_len=5)
    assert loss.item() == pytest.approx(want, rel=1e-12)
    torch.testing.assert_close(inputs["logp"].grad, torch.tensor(want_grad, dtype=torch.float64))


def test_dr_grpo_divides_by_max_completion_length():
    inputs = batch()
    loss, _ = grpo_loss(**inputs, beta=0.1, loss_type="dr_grpo", max_completion_length=8)
    assert loss.item() == pytest.approx(hand_loss_and_grad("dr_grpo", 0.1, 0.2, 0.2, max_len=8)[0], rel=1e-12)


def test_metrics_count_clipping_on_each_side():
    _, metrics = grpo_loss(**batch(False), beta=0.1)
    # response tokens: 11. Low-clipped (ρ < 0.8, Â < 0): row 1's 0.5. High-clipped (ρ > 1.2, Â > 0):
    # row 0's 1.5, row 2's 1.25 and 1.35. Not clipped: 0.7 and 0.75 (Â > 0), 1.4 (Â < 0).
    assert metrics["clip_frac_low"] == pytest.approx(1 / 11)
    assert metrics["clip_frac_high"] == pytest.approx(3 / 11)
    _, metrics = grpo_loss(**batch(False), beta=0.1, clip_eps_high=0.28)
    assert metrics["clip_frac_high"] == pytest.approx(2 / 11)
    responses = [(i, j) for i in range(3) for j in range(5) if MASK[i][j]]
    assert metrics["ratio_mean"] == pytest.approx(sum(RATIOS[i][j] for i, j in responses) / 11)
    kl = sum(math.exp(REF_SHIFT[i][j]) - REF_SHIFT[i][j] - 1 for i, j in responses) / 11
    assert metrics["kl"] == pytest.approx(kl)
    _, metrics = grpo_loss(**{**batch(False), "ref_logp": None}, beta=0.0)
    assert "kl" not in metrics


def test_identical_policies_give_advantage_weighted_mean_and_zero_kl():
    logp = torch.tensor(LOGP, dtype=torch.float64)
    mask = torch.tensor(MASK)
    advantages = torch.tensor(ADVANTAGES, dtype=torch.float64)
    lengths = [sum(row) for row in MASK]
    want = {
        "grpo": -sum(ADVANTAGES) / 3,
        "bnpo": -sum(a * n for a, n in zip(ADVANTAGES, lengths, strict=True)) / sum(lengths),
        "dr_grpo": -sum(a * n for a, n in zip(ADVANTAGES, lengths, strict=True)) / (3 * 5),
    }
    want["dapo"] = want["bnpo"]
    for loss_type in LOSS_TYPES:
        loss, metrics = grpo_loss(logp, logp, logp, advantages, mask, beta=0.04, loss_type=loss_type)
        assert loss.item() == pytest.approx(want[loss_type], rel=1e-12)
        assert metrics == {"ratio_mean": 1.0, "clip_frac_low": 0.0, "clip_frac_high": 0.0, "kl": 0.0}


@pytest.mark.parametrize(
    ("loss_type", "weight"),
    [("grpo", [1 / (2 * 3), 1 / (2 * 1)]), ("bnpo", [1 / 4, 1 / 4]), ("dr_grpo", [1 / 8] * 2)],
)
def test_gradient_at_ratio_one_is_minus_weighted_advantage(loss_type: str, weight: list[float]):
    """ρ = 1 and β = 0: dL/dlogp_it = −Â_i · w_i (grpo: w_i = 1/(B·|o_i|)) on response tokens, 0 elsewhere.
    old_logp is logp itself, as with one update per batch: grpo_loss detaches it."""
    logp = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 0]])
    advantages = torch.tensor([0.7, -1.3], dtype=torch.float64)
    loss, _ = grpo_loss(logp, logp, None, advantages, mask, beta=0.0, loss_type=loss_type)
    loss.backward()
    want = -advantages[:, None] * torch.tensor(weight, dtype=torch.float64)[:, None] * mask
    torch.testing.assert_close(logp.grad, want)


def test_bnpo_and_dapo_coincide_without_accumulation():
    generator = torch.Generator().manual_seed(0)
    logp, old_logp, ref_logp = (-torch.rand(4, 6, generator=generator) * 3 for _ in range(3))
    advantages = torch.randn(4, generator=generator)
    mask = torch.rand(4, 6, generator=generator) > 0.3
    losses = {t: grpo_loss(logp, old_logp, ref_logp, advantages, mask, loss_type=t)[0] for t in LOSS_TYPES}
    assert torch.equal(losses["bnpo"], losses["dapo"])
    assert not torch.allclose(losses["bnpo"], losses["grpo"])  # unequal lengths: the weighting differs


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_empty_response_contributes_zero_and_no_nan(loss_type: str):
    logp = torch.tensor([[-0.5, -1.0], [-2.0, -0.1]], requires_grad=True)
    old_logp = logp.detach() + 0.1
    mask = torch.tensor([[1, 1], [0, 0]])
    advantages = torch.tensor([1.0, -1.0])
    loss, metrics = grpo_loss(logp, old_logp, logp.detach(), advantages, mask, loss_type=loss_type)
    loss.backward()
    per_token = -math.exp(-0.1) * 1.0  # ρ = e^−0.1 inside [0.8, 1.2], KL = 0
    want = {"grpo": per_token / 2, "bnpo": per_token, "dapo": per_token, "dr_grpo": 2 * per_token / 4}
    assert loss.item() == pytest.approx(want[loss_type], rel=1e-6)
    assert torch.isfinite(logp.grad).all() and not logp.grad[1].any()
    assert metrics["ratio_mean"] == pytest.approx(math.exp(-0.1))
    loss, metrics = grpo_loss(
        logp, old_logp, logp.detach(), advantages, torch.zeros(2, 2), loss_type=loss_type
    )
    assert loss.item() == 0.0 and all(v == 0.0 for v in metrics.values())


def trl_compute_loss(logp, old_logp, ref_logp, advantages, mask, eps_low, eps_high, beta, loss_type, max_len):
    """The semantics of TRL's `GRPOTrainer` loss, restated in our own words for one process and no
    gradient accumulation (the global token count = this batch's response tokens)."""
    kl_t = torch.exp(ref_logp - logp) - (ref_logp - logp) - 1
    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    loss_t = -torch.min(ratio * advantages.unsqueeze(1), clipped * advantages.unsqueeze(1))
    loss_t = loss_t + beta * kl_t
    if loss_type == "grpo":
        loss = ((loss_t * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (loss_t * mask).sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        loss = (loss_t * mask).sum() / (loss_t.size(0) * max_len)
    else:
        loss = (loss_t * mask).sum() / mask.sum()
    low = (ratio < 1 - eps_low) & (advantages.unsqueeze(1) < 0)
    high = (ratio > 1 + eps_high) & (advantages.unsqueeze(1) > 0)
    metrics = {
        "kl": ((kl_t * mask).sum() / mask.sum()).item(),
        "clip_frac_low": ((low * mask).sum() / mask.sum()).item(),
        "clip_frac_high": ((high * mask).sum() / mask.sum()).item(),
    }
    return loss, metrics


def trl_advantages(rewards, num_generations):
    """TRL's group-normalised advantages (scale_rewards=True) as published."""
    mean = rewards.view(-1, num_generations).mean(dim=1).repeat_interleave(num_generations, dim=0)
    std = rewards.view(-1, num_generations).std(dim=1).repeat_interleave(num_generations, dim=0)
    return (rewards - mean) / (std + 1e-4)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_matches_trl_semantics_on_random_batches(loss_type: str):
    generator = torch.Generator().manual_seed(1)
    rewards = torch.randint(0, 3, (4 * 6,), generator=generator).float()
    advantages = group_advantages(rewards, group_size=6)
    varied = rewards.view(4, 6).std(dim=1).repeat_interleave(6) > 0
    torch.testing.assert_close(advantages[varied], trl_advantages(rewards, 6)[varied])
    logp = -torch.rand(24, 10, generator=generator) * 4
    old_logp = logp + torch.randn(24, 10, generator=generator) * 0.3  # ratios on both sides of the clip
    ref_logp = logp + torch.randn(24, 10, generator=generator) * 0.5
    mask = (torch.arange(10) < torch.randint(1, 11, (24, 1), generator=generator)).float()
    args = (logp, old_logp, ref_logp, advantages, mask)
    loss, metrics = grpo_loss(
        *args, clip_eps_high=0.28, beta=0.04, loss_type=loss_type, max_completion_length=12
    )
    want_loss, want_metrics = trl_compute_loss(*args, 0.2, 0.28, 0.04, loss_type, 12)
    torch.testing.assert_close(loss, want_loss)
    assert metrics["clip_frac_low"] > 0 and metrics["clip_frac_high"] > 0
    for key, value in want_metrics.items():
        assert metrics[key] == pytest.approx(value)


def test_group_advantages_match_hand_computation():
    groups = [[1.0, 0.0, 0.0, 1.0], [0.5, 0.0, 1.0, 2.0]]
    want_std, want_none = [], []
    for group in groups:
        mean = sum(group) / len(group)
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / (len(group) - 1))  # Bessel-corrected
        want_std.append([(r - mean) / (std + 1e-4) for r in group])
        want_none.append([r - mean for r in group])
    rewards = torch.tensor(groups, dtype=torch.float64)
    torch.testing.assert_close(group_advantages(rewards, 4), torch.tensor(want_std, dtype=torch.float64))
    flat = group_advantages(rewards.flatten(), 4)
    assert flat.shape == (8,)
    torch.testing.assert_close(flat, torch.tensor(want_std, dtype=torch.float64).flatten())
    torch.testing.assert_close(
        group_advantages(rewards, 4, scale="none"), torch.tensor(want_none, dtype=torch.float64)
    )


@pytest.mark.parametrize("scale", ["std", "none"])
@pytest.mark.parametrize("eps", [1e-4, 0.0])
def test_constant_reward_group_has_exactly_zero_advantage(scale: str, eps: float):
    # 16 fp32 rewards of 0.1 average to 0.10000001: the formula alone would give −7.5e-9 (or ≈ −1 at eps=0)
    rewards = torch.cat([torch.full((16,), 0.1), torch.zeros(16), torch.arange(16.0)])
    advantages = group_advantages(rewards, 16, scale=scale, eps=eps)
    assert torch.equal(advantages[:32], torch.zeros(32))
    assert torch.isfinite(advantages).all() and advantages[32:].abs().min() > 0


def test_sequence_logprobs_are_shifted_next_token_logprobs():
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 5, 7, generator=generator, requires_grad=True)
    tokens = torch.randint(0, 7, (2, 5), generator=generator)
    logp = sequence_logprobs(logits, tokens)
    assert logp.shape == (2, 4) and logp.dtype == torch.float32
    for b in range(2):
        for t in range(4):
            row = logits[b, t].tolist()
            log_z = math.log(sum(math.exp(x) for x in row))
            assert logp[b, t].item() == pytest.approx(row[tokens[b, t + 1]] - log_z, rel=1e-5)
    logp.sum().backward()
    assert (
        not logits.grad[:, -1].any() and logits.grad[:, :-1].abs().sum() > 0
    )  # last position predicts nothing


LOGP_2x3 = torch.zeros(2, 3)
GOOD = {
    "logp": LOGP_2x3,
    "old_logp": LOGP_2x3,
    "ref_logp": LOGP_2x3,
    "advantages": torch.zeros(2),
    "mask": torch.ones(2, 3),
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"logp": torch.zeros(2, 3, 1)}, r"logp.shape=\(2, 3, 1\) must be \[B, T\]"),
        ({"old_logp": torch.zeros(2, 4)}, r"old_logp.shape=\(2, 4\) must be \[2, 3\]"),
        ({"ref_logp": torch.zeros(3, 3)}, r"ref_logp.shape=\(3, 3\) must be \[2, 3\]"),
        ({"advantages": torch.zeros(2, 1)}, r"advantages.shape=\(2, 1\) must be \[2\]"),
        ({"mask": torch.ones(2)}, r"mask.shape=\(2,\) must be \[2, 3\]"),
        ({"mask": torch.full((2, 3), 2.0)}, "mask .* must hold only 0/1"),
        ({"advantages": torch.zeros(2, dtype=torch.int64)}, "advantages.dtype=torch.int64 must be floating"),
        ({"ref_logp": None}, "beta=0.04 needs ref_logp"),
        ({"loss_type": "ppo"}, "loss_type='ppo' is not one of"),
        ({"clip_eps": -0.1}, r"clip_eps=-0.1 must be in \[0, 1\]"),
        ({"clip_eps_high": -0.1}, "clip_eps_high=-0.1 must be >= 0"),
        ({"beta": -1.0}, "beta=-1.0 must be >= 0"),
        ({"max_completion_length": 2}, "max_completion_length=2 must be >= 1 and >= the longest response"),
    ],
)
def test_grpo_loss_rejects_bad_inputs(change: dict, message: str):
    with pytest.raises(ValueError, match=message):
        grpo_loss(**{**GOOD, **change})


@pytest.mark.parametrize(
    ("rewards", "kwargs", "message"),
    [
        (torch.zeros(6), {"group_size": 1}, "group_size=1 must be >= 2"),
        (torch.zeros(6), {"group_size": 4}, r"rewards.shape=\(6,\) is not a whole number of groups of 4"),
        (torch.zeros(2, 3), {"group_size": 2}, r"rewards.shape=\(2, 3\) is \[B, G\] with G != group_size=2"),
        (torch.zeros(2, 3, 1), {"group_size": 3}, r"must be \[B\*G\] or \[B, G\]"),
        (torch.zeros(6, dtype=torch.int64), {"group_size": 3}, "rewards.dtype=torch.int64 must be floating"),
        (torch.tensor([0.0, float("nan")]), {"group_size": 2}, "rewards must be finite"),
        (torch.zeros(6), {"group_size": 3, "scale": "batch"}, "scale='batch' is not one of"),
        (torch.zeros(6), {"group_size": 3, "eps": -1.0}, "eps=-1.0 must be >= 0"),
    ],
)
def test_group_advantages_rejects_bad_inputs(rewards: torch.Tensor, kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        group_advantages(rewards, **kwargs)


@pytest.mark.parametrize(
    ("logits", "tokens", "message"),
    [
        (
            torch.zeros(2, 5),
            torch.zeros(2, 5, dtype=torch.int64),
            "model_logits.shape=.* must be a floating-point",
        ),
        (torch.zeros(2, 5, 7), torch.zeros(2, 4, dtype=torch.int64), r"tokens.shape=\(2, 4\).* \[2, 5\]"),
        (torch.zeros(2, 5, 7), torch.zeros(2, 5), "dtype=torch.float32 must be int64/int32"),
        (torch.zeros(2, 1, 7), torch.zeros(2, 1, dtype=torch.int64), "T=1 must be >= 2"),
        (torch.zeros(2, 5, 7), torch.full((2, 5), 7), r"tokens must lie in \[0, V=7\); got \[7, 7\]"),
    ],
)
def test_sequence_logprobs_rejects_bad_inputs(logits: torch.Tensor, tokens: torch.Tensor, message: str):
    with pytest.raises(ValueError, match=message):
        sequence_logprobs(logits, tokens)
