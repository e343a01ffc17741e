"""Benchmarks, run as `python -m r1mini.bench <subcommand>` (`kernels`; others plug in beside it).

A subcommand is a module with `configure(parser)` (its command-line options) and `run(args)`,
registered in `SUBCOMMANDS` in `__main__.py`. `device.py` holds what they share: timing and the
measured ceilings of the machine (copy bandwidth, dense bf16 matmul rate).
"""
