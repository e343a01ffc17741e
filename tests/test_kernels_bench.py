"""`python -m r1mini.bench kernels` as a user runs it: a fresh Python, TRITON_INTERPRET not set."""

import os
import subprocess
import sys

import pytest
import torch

pytestmark = [pytest.mark.bench, pytest.mark.triton]


def test_kernel_bench_runs_from_the_command_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    cmd = [sys.executable, "-m", "r1mini.bench", "kernels", "--sizes", "mini", "--only", "rms_norm"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    (row,) = [line for line in run.stdout.splitlines() if line.startswith("rms_norm")]
    if not torch.cuda.is_available():
        assert "interpreter" in run.stdout
        assert float(row.split()[-3]) < 1e-2  # max rel err against the reference: one bf16 rounding
