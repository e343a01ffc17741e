"""`python -m r1mini.bench <subcommand> [options]`: one parser, one entry per benchmark module."""

from __future__ import annotations

import argparse
from types import ModuleType

from r1mini.bench.device import enable_interpreter_without_gpu

enable_interpreter_without_gpu()  # before the imports below import triton (no GPU: interpreter)

from r1mini.bench import (  # noqa: E402
    compare,
    compile_kernels,
    generate,
    kernels,
    pretrained,
    recipes,
    train,
)

# name -> module(configure, run)
SUBCOMMANDS: dict[str, ModuleType] = {
    "kernels": kernels,
    "compile": compile_kernels,
    "generate": generate,
    "train": train,
    "pretrained": pretrained,
    "compare": compare,
    "recipes": recipes,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m r1mini.bench")
    sub = parser.add_subparsers(dest="subcommand", required=True)
    for name, module in SUBCOMMANDS.items():
        module.configure(sub.add_parser(name, help=(module.__doc__ or "").splitlines()[0]))
    args = parser.parse_args(argv)
    SUBCOMMANDS[args.subcommand].run(args)


if __name__ == "__main__":
    main()
