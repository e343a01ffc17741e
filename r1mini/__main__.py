"""`python -m r1mini …`: the command line.

python -m r1mini info deepseek-v3-671b     parameters, KV cache and memory of a preset
"""

from __future__ import annotations

import argparse
import sys

from r1mini.accounting import count_parameters, kv_cache_bytes_per_token, weight_bytes
from r1mini.config import ModelConfig


def _human(n: float, unit: str = "") -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "B" if not unit else "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {suffix}{unit}"
    return f"{n:,.0f} {unit}".rstrip()


def info(name: str) -> str:
    """A readable table of what the preset `name` costs, computed from the model it builds."""
    config = ModelConfig.preset(name)
    counts = count_parameters(config)
    lines = [
        f"{name}: {config.n_layers} blocks ({config.n_dense_layers} dense + {config.n_moe_layers} MoE), "
        f"dim {config.dim}, {config.n_heads} heads, "
        f"{config.n_routed_experts} routed experts (top-{config.n_activated_experts}) "
        f"+ {config.n_shared_experts} shared",
        "",
        f"{'component':<18}{'parameters':>16}{'share':>9}",
    ]
    for part, n in counts["breakdown"].items():
        lines.append(f"{part:<18}{n:>16,}{n / counts['total']:>9.1%}")
    lines += [
        f"{'total':<18}{counts['total']:>16,}   ({_human(counts['total'])})",
        f"{'activated/token':<18}{counts['activated']:>16,}   ({_human(counts['activated'])})",
        f"{'MTP (own)':<18}{counts['mtp']:>16,}   ({_human(counts['mtp'])})",
        "",
        "KV cache per token, all layers, bf16:",
    ]
    for kind, n in kv_cache_bytes_per_token(config).items():
        lines.append(f"  {kind:<16}{n:>14,} bytes")
    lines.append("Weights (main model):")
    for kind, n in weight_bytes(config).items():
        lines.append(f"  {kind:<16}{_human(n, 'B'):>14}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m r1mini", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_info = commands.add_parser("info", help="parameters, KV cache and memory of a preset")
    p_info.add_argument("preset", choices=ModelConfig.preset_names())
    args = parser.parse_args(argv)
    if args.command == "info":
        print(info(args.preset))


if __name__ == "__main__":
    main(sys.argv[1:])
