"""`make lab` works where classes run it: as root in a container (Jupyter refuses root unless told
`--allow-root`, which the Makefile adds for root) and with `LAB_ARGS` for a shared server. The test
starts it as a new user would, fetches the server's contents API on 127.0.0.1 and finds the
chapters, then stops it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_serves_the_notebooks():
    port, token = free_port(), "r1mini-test"
    args = f"--no-browser --ip 127.0.0.1 --port {port} --IdentityProvider.token={token}"
    lab = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, stopped as one below
    )
    try:
        deadline, listing = time.monotonic() + 120, None
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                with urllib.request.urlopen(url, timeout=5) as response:
                    listing = json.load(response)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)
        assert listing is not None, (
            f"JupyterLab did not start:\n{lab.stdout.read() if lab.poll() is not None else ''}"
        )
        names = {item["name"] for item in listing["content"]}
        chapters = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert chapters <= names, f"the server does not serve notebooks/: {sorted(names)}"
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
