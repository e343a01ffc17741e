"""Benchmarks, run as `python -m r1mini.bench <subcommand>` (`kernels`, `compile`, `generate`,
`train`, `compare`, `recipes`).

A subcommand is a module with `configure(parser)` (its command-line options) and `run(args)`,
registered in `SUBCOMMANDS` in `__main__.py`. `device.py` holds what they share: timing and the
measured ceilings of the machine (copy bandwidth, dense bf16 matmul rate); `rounds.py` times
contenders side by side in interleaved rounds and leaves out those other processes disturbed.
"""
