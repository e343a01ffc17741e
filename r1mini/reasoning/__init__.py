"""Reasoning: the tokenizer and chat templates, verifiable tasks, rewards and evaluation.

The pieces of the R1 paper that surround the model: the R1-Zero template (§2.2.3), tasks whose
answers a rule can check, the rule-based rewards RL optimises (§2.2.2, §2.3.2), sampling responses
with the KV cache, and the metrics R1 is evaluated with on k samples per question (§3). Beside
them: where a wrong trace leaves the reference (`traces`), pass@k / cons@k curves (`scaling`),
multi-token prediction as a speculative-decoding draft (`speculative`, V3 §2.2) and the small learned
reward model R1-Zero chose not to use (`reward_model`, R1 §2.2.2).
"""

from r1mini.reasoning.dataset import KINDS, generate_tasks, task_stream
from r1mini.reasoning.evaluate import (
    SampleRecord,
    cons_at_k,
    evaluate,
    majority_answer,
    pass_at_1,
    pass_at_k,
    question_row,
    score_sample,
    summarize,
    to_dataframe,
)
from r1mini.reasoning.generate import (
    Generation,
    filter_logits,
    generate,
    generate_text,
    sample_next,
    stream_print,
    text_stream,
)
from r1mini.reasoning.reward_model import RewardModel, fit_reward_model, token_counts
from r1mini.reasoning.rewards import (
    R1_WEIGHTS,
    R1_ZERO_WEIGHTS,
    Reward,
    RewardResult,
    accuracy_reward,
    combined_reward,
    format_reward,
    language_reward,
)
from r1mini.reasoning.sampling_eval import evaluate_model
from r1mini.reasoning.scaling import cons_at_k_curve, pass_at_k_curve
from r1mini.reasoning.speculative import DraftCheck, check_drafts, greedy_responses, speculative_forwards
from r1mini.reasoning.task import Language, Task, Verdict, split_of
from r1mini.reasoning.template import (
    TEMPLATES,
    ParsedResponse,
    Template,
    decode_response,
    encode_example,
    encode_prompt,
    parse_response,
    render_completion,
    render_example,
    render_prompt,
)
from r1mini.reasoning.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    VOCAB,
    VOCAB_SIZE,
    decode,
    encode,
    split_tokens,
)
from r1mini.reasoning.traces import Divergence, first_divergence, reference_response, thinking_lines

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "KINDS",
    "PAD_ID",
    "R1_WEIGHTS",
    "R1_ZERO_WEIGHTS",
    "TEMPLATES",
    "VOCAB",
    "VOCAB_SIZE",
    "Divergence",
    "DraftCheck",
    "Generation",
    "Language",
    "ParsedResponse",
    "Reward",
    "RewardModel",
    "RewardResult",
    "SampleRecord",
    "Task",
    "Template",
    "Verdict",
    "accuracy_reward",
    "check_drafts",
    "combined_reward",
    "cons_at_k",
    "cons_at_k_curve",
    "decode",
    "decode_response",
    "encode",
    "encode_example",
    "encode_prompt",
    "evaluate",
    "evaluate_model",
    "filter_logits",
    "first_divergence",
    "fit_reward_model",
    "format_reward",
    "generate",
    "generate_tasks",
    "generate_text",
    "greedy_responses",
    "language_reward",
    "majority_answer",
    "parse_response",
    "pass_at_1",
    "pass_at_k",
    "pass_at_k_curve",
    "question_row",
    "reference_response",
    "render_completion",
    "render_example",
    "render_prompt",
    "sample_next",
    "score_sample",
    "speculative_forwards",
    "split_of",
    "split_tokens",
    "stream_print",
    "summarize",
    "task_stream",
    "text_stream",
    "thinking_lines",
    "to_dataframe",
    "token_counts",
]
