"""The live panel: the reader types a problem and a shipped checkpoint answers it, token by token,
with its expert routing and attention for the reader's own tokens.

In live Jupyter the panel (`LivePanel`) calls r1mini: `generate` with the template of
`generate_text`, the rule rewards of the R1 paper (§2.2.2: format, and accuracy against the
arithmetic the reader typed), then `model.recording()` for the routing heatmap (V3 paper §2.1.2) and
the attention map (§2.1.1). The website has no Python: there the same panel runs the checkpoints in
the page, exported to ONNX from the same PyTorch code (`r1mini.io.onnx_export`) and run by
onnxruntime-web (WASM, vendored by book/vendor.sh, nothing from a CDN). `live.js` holds the
page's side: tokenizer, template, greedy and temperature/top-p sampling, the rewards, the figures.
Everything it must agree with r1mini on (the vocabulary, the special tokens, the template, the
stop token, the context, the messages for bad input, the colours) it reads from `live.json`, which
`site_spec` writes from r1mini's own constants, so the two cannot drift:

    python -m r1mini.viz.live OUT_DIR    # NAME.onnx for each checkpoint, live.json, live.js

`book/build.sh` runs it into the site's `_static/live/`.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import torch

from r1mini.io.checkpoint import SHIPPED, load
from r1mini.io.onnx_export import export_onnx, onnx_parity
from r1mini.model import Transformer
from r1mini.reasoning.arithmetic import check_integer
from r1mini.reasoning.generate import generate, text_stream
from r1mini.reasoning.rewards import TAGS, format_reward
from r1mini.reasoning.template import decode_response, encode_prompt, get_template, parse_response
from r1mini.reasoning.tokenizer import (
    BOS_ID,
    CHARACTERS,
    EOS,
    EOS_ID,
    PAD,
    SPECIAL_TOKENS,
    SPECIALS_LONGEST_FIRST,
    VOCAB,
    VOCAB_SIZE,
    split_tokens,
)
from r1mini.viz.attention import attention_heatmap
from r1mini.viz.moe import routing_heatmap
from r1mini.viz.reasoning import PART_STYLES, TEXT_STYLE, pieces_html
from r1mini.viz.style import figure_html

MODELS = ("r1", "r1-zero", "base")
TEMPLATE = "r1-chat"  # generate_text's default
RESPONSE_ROOM = 64  # positions a prompt must leave for the response
EXAMPLE = "compute 9103-4587"  # a held-out question in the trained form (4 digits), which r1 gets right
SCRIPT = Path(__file__).with_name("live.js")
MESSAGES = {  # the panel's words for bad input, the same in Jupyter and in the page
    "empty": "Type a problem first, for example: {example}",
    "vocabulary": (
        "The model cannot read {character} (character {position} of your problem): it knows only "
        "digits, ASCII letters, space, newline and {punctuation}"
    ),
    "too_long": (
        "Your problem is too long: with the template it takes {tokens} of the model's {context} "
        "positions, and the answer needs {room}. Keep it under {limit} characters."
    ),
}
ARITHMETIC = re.compile(r"^\s*(?:compute\s+)?([0-9+\-*()\s]+?)\s*$", re.IGNORECASE)


def site_spec(models: Sequence[str] = MODELS) -> dict[str, Any]:
    """What `live.js` reads: r1mini's tokenizer, template, stop token, context, messages and
    styles, and each model's file and shapes."""
    template = get_template(TEMPLATE)
    specs = {}
    for name in models:
        config = load(SHIPPED / name).config
        specs[name] = {
            "file": f"{name}.onnx",
            "n_layers": config.n_layers,
            "n_heads": config.n_heads,
            "moe_layers": list(range(config.n_dense_layers, config.n_layers)),
            "n_experts": config.n_routed_experts,
            "topk": config.n_activated_experts,
            "experts_per_group": config.experts_per_group,
            "max_seq_len": config.max_seq_len,
        }
    return {
        "vocab": list(VOCAB),
        "specials_longest_first": list(SPECIALS_LONGEST_FIRST),
        "special_tokens": list(SPECIAL_TOKENS),
        "characters": CHARACTERS,
        "vocab_limit": VOCAB_SIZE,  # generate_text samples only the tokenizer's ids
        "bos": VOCAB[BOS_ID],
        "eos_id": EOS_ID,
        "eos": EOS,
        "pad": PAD,
        "tags": list(TAGS),
        "prompt_format": template.prompt_format,
        "prefill": template.prefill,
        "response_room": RESPONSE_ROOM,
        "messages": MESSAGES,
        "example": EXAMPLE,
        "part_styles": PART_STYLES,
        "models": specs,
    }


def check_prompt(text: str, context: int) -> tuple[list[int] | None, str]:
    """(the prompt's token ids in the template, "") or (None, the panel's message for bad input)."""
    if not text.strip():
        return None, MESSAGES["empty"].format(example=EXAMPLE)
    characters = list(text)
    for position, character in enumerate(characters):
        if character not in CHARACTERS:
            punctuation = " ".join(c for c in CHARACTERS if not c.isalnum() and not c.isspace())
            shown = json.dumps(character, ensure_ascii=False)
            return None, MESSAGES["vocabulary"].format(
                character=shown, position=position + 1, punctuation=punctuation
            )
    ids = encode_prompt(text, TEMPLATE)
    if len(ids) > context - RESPONSE_ROOM:
        limit = context - RESPONSE_ROOM - (len(ids) - len(characters))
        return None, MESSAGES["too_long"].format(
            tokens=len(ids), context=context, room=RESPONSE_ROOM, limit=limit
        )
    return ids, ""


def expected_answer(prompt: str) -> int | None:
    """The value of the arithmetic in `prompt` (``compute 478+56``, or any expression of whole
    numbers with + - * and parentheses), or None when it holds none. The page computes the same."""
    match = ARITHMETIC.match(prompt)
    if not match:
        return None
    tokens = re.findall(r"\d+|[+\-*()]", match.group(1))
    if "".join(tokens) != re.sub(r"\s+", "", match.group(1)):
        return None
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def atom() -> int:
        token = take() if peek() is not None else ""
        if token == "(":
            value = total()
            if take() != ")":
                raise ValueError
            return value
        if token == "-":
            return -atom()
        if not token.isdigit():
            raise ValueError
        return int(token)

    def product() -> int:
        value = atom()
        while peek() == "*":
            take()
            value *= atom()
        return value

    def total() -> int:
        value = product()
        while peek() in ("+", "-"):
            value = value + product() if take() == "+" else value - product()
        return value

    try:
        value = total()
    except (ValueError, IndexError):
        return None
    return value if position == len(tokens) else None


def verdict(prompt: str, response: str) -> dict[str, Any]:
    """The rule rewards of a response to `prompt`: format (R1 §2.2.2, `format_reward`) and
    accuracy against the arithmetic in the prompt (`check_integer`), each a value and a reason."""
    fmt = format_reward(response)
    expected = expected_answer(prompt)
    answer = parse_response(response).answer
    if expected is None:
        accuracy = None, "no arithmetic in the problem for the page to check the answer against"
    elif answer is None:
        accuracy = 0.0, "no single <answer>...</answer> block to check"
    else:
        checked = check_integer(expected, answer)
        accuracy = float(checked.ok), f"{checked.reason} ({prompt.strip()} = {expected})"
    return {"format": (fmt.value, fmt.reason), "accuracy": accuracy}


def write_site_assets(out: Path, models: Sequence[str] = MODELS) -> None:
    """Everything the page needs in `out`: each model as ONNX, `live.json` and `live.js`; prints
    each file's size and onnxruntime's largest difference from r1mini on the example."""
    out.mkdir(parents=True, exist_ok=True)
    for name in models:
        start = time.perf_counter()
        model = load(SHIPPED / name)
        path = export_onnx(model, out / f"{name}.onnx")
        seconds = time.perf_counter() - start
        parity = onnx_parity(model, path, [encode_prompt(EXAMPLE, TEMPLATE)])
        print(
            f"{name}: {path.stat().st_size / 2**20:.2f} MiB of ONNX in {seconds:.1f} s; onnxruntime vs "
            f"r1mini: logits {parity['logits']:.1e}, attention {parity['attention']:.1e}, routing "
            f"{'equal' if not parity['expert_ids_differ'] else 'DIFFERS'}"
        )
    (out / "live.json").write_text(json.dumps(site_spec(models), ensure_ascii=False))
    shutil.copyfile(SCRIPT, out / "live.js")


def panel_html(example: str = EXAMPLE, models: Sequence[str] = MODELS) -> str:
    """The website's panel: the controls, the output, the figures' places, and a loader for
    `_static/live/live.js` (which loads onnxruntime-web and a model on the first run)."""
    options = "".join(f'<option value="{html.escape(m)}">{html.escape(m)}</option>' for m in models)
    label = "display:inline-flex;gap:4px;align-items:center"
    loader = (
        "(() => { const root = document.documentElement.dataset.content_root || '../';"
        " if (document.getElementById('r1-live-script')) return;"
        " const s = document.createElement('script'); s.id = 'r1-live-script';"
        " s.src = root + '_static/live/live.js'; document.head.appendChild(s); })();"
    )
    return (
        '<div id="r1-live" class="r1-live-panel" style="border:1px solid #bbbbbb;border-radius:6px;'
        'padding:8px 12px;margin:8px 0">'
        '<div style="display:flex;flex-wrap:wrap;gap:10px;align-items:center">'
        f'<label style="{label}">problem <input id="r1-live-prompt" type="text" size="26" '
        f'value="{html.escape(example)}" aria-label="problem for the model"></label>'
        f'<label style="{label}">model <select id="r1-live-model">{options}</select></label>'
        f'<label style="{label}">temperature <input id="r1-live-temperature" type="number" '
        'min="0" max="2" step="0.1" value="0" style="width:4.5em"></label>'
        f'<label style="{label}">top-p <input id="r1-live-top-p" type="number" min="0.05" max="1" '
        'step="0.05" value="0.95" style="width:4.5em"></label>'
        '<button id="r1-live-run" type="button" disabled>Run</button></div>'
        '<div id="r1-live-status" role="status" style="font-size:13px;color:#333;margin:4px 0">'
        "Loading the panel…</div>"
        f'<pre id="r1-live-output" style="{TEXT_STYLE};min-height:3em"></pre>'
        '<div id="r1-live-reward" style="font-size:13px"></div>'
        '<div id="r1-live-inspect" style="display:none;margin-top:6px">'
        f'<label style="{label};margin-right:12px">MoE layer <select id="r1-live-layer"></select></label>'
        f'<label style="{label};margin-right:12px">attention layer <select id="r1-live-attn-layer">'
        "</select></label>"
        f'<label style="{label};margin-right:12px">head <select id="r1-live-head"></select></label>'
        f'<label style="{label}">tokens <select id="r1-live-span"><option value="prompt">the prompt'
        '</option><option value="all">prompt and response</option></select></label>'
        '<div id="r1-live-routing"></div><div id="r1-live-attention"></div></div>'
        f"<script>{loader}</script></div>"
    )


class LivePanel:
    """The panel: a problem box, a model menu, temperature and top-p, a Run button; the response
    streams in (thinking dimmed, answer bold), then the rule rewards, the routing heatmap of one
    MoE layer and one head's attention map over the prompt's tokens.

    Live Jupyter shows the widgets, which call r1mini; the website shows `panel_html()`, which
    runs the ONNX export of the same checkpoints in the page.
    """

    def __init__(
        self,
        models: dict[str, Transformer],
        example: str = EXAMPLE,
        max_new_tokens: int | None = None,
    ) -> None:
        if not models:
            raise ValueError("LivePanel needs at least one model (name -> Transformer)")
        self.models, self.example, self.max_new_tokens = models, example, max_new_tokens
        self.prompt = widgets.Text(value=example, description="problem")
        self.model = widgets.Dropdown(options=list(models), description="model")
        self.temperature = widgets.FloatSlider(
            value=0.0, min=0.0, max=2.0, step=0.1, description="temperature"
        )
        self.top_p = widgets.FloatSlider(value=0.95, min=0.05, max=1.0, step=0.05, description="top-p")
        self.button = widgets.Button(description="Run", button_style="primary")
        self.output = widgets.HTML()
        self.figures = widgets.Output()
        self.button.on_click(lambda _button: self.run())
        controls = widgets.HBox([self.prompt, self.model, self.button])
        self.widget = widgets.VBox(
            [controls, widgets.HBox([self.temperature, self.top_p]), self.output, self.figures]
        )

    def run(self, prompt: str | None = None) -> str | None:
        """Answer `prompt` (default: the box's text) with the chosen model; returns the response, or
        None after showing the message for bad input."""
        text = self.prompt.value if prompt is None else prompt
        model = self.models[self.model.value]
        ids, message = check_prompt(text, model.config.max_seq_len)
        self.figures.outputs = ()
        if ids is None:
            self.output.value = f'<div style="color:#D55E00">{html.escape(message)}</div>'
            return None
        pieces: list[tuple[str, str]] = []

        def show(_row: int, piece: str, part: str) -> None:
            pieces.append((piece, part))
            self.output.value = f'<pre style="{TEXT_STYLE}">{pieces_html(pieces)}</pre>'

        room = model.config.max_seq_len - len(ids)
        sampling = {"temperature": self.temperature.value, "top_p": self.top_p.value}
        result = generate(
            model,
            [ids],
            self.max_new_tokens or room,
            vocab_limit=VOCAB_SIZE,
            on_token=text_stream(show, TEMPLATE),
            **sampling,
        )
        response = decode_response(result.generated[0], TEMPLATE)
        rewards = verdict(text, response)
        lines = "".join(
            f"<div>{name} reward: {'–' if value is None else f'{value:g}'} ({html.escape(reason)})</div>"
            for name, (value, reason) in rewards.items()
        )
        self.output.value = f'<pre style="{TEXT_STYLE}">{pieces_html(pieces)}</pre>{lines}'
        self.figures.outputs = tuple(
            {"output_type": "display_data", "data": {"text/html": figure_html(figure)}, "metadata": {}}
            for figure in self.inspect(model, ids)
        )
        return response

    def inspect(
        self, model: Transformer, ids: list[int], layer: int | None = None, head: int = 0
    ) -> list[go.Figure]:
        """The routing heatmap of one MoE layer (the first by default) and head `head`'s attention
        map in the last layer, over the prompt's tokens."""
        config = model.config
        layer = config.n_dense_layers if layer is None else layer
        with torch.no_grad(), model.recording() as records:
            model(torch.tensor([ids], device=model.device), 0, use_cache=False)
        tokens = split_tokens("".join(VOCAB[i] for i in ids))
        attention = records[-1]["attention"][0]
        return [
            routing_heatmap(records[layer]["routing"][0], tokens, config, layer),
            attention_heatmap(
                attention, tokens, head, f"attention, layer {config.n_layers - 1}, head {head}"
            ),
        ]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        bundle["text/html"] = panel_html(self.example, list(self.models))
        return bundle


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m r1mini.viz.live", description="the live panel's files")
    parser.add_argument("out", type=Path, help="folder for NAME.onnx, live.json and live.js")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="shipped checkpoints")
    args = parser.parse_args(argv)
    write_site_assets(args.out, args.models)


if __name__ == "__main__":
    main()
