"""Training state on disk: a run can be killed at any moment and resumed exactly.

A training checkpoint is a directory: the model as an r1mini checkpoint (`model.safetensors` +
`config.json`, see `r1mini.io.checkpoint`), the optimizer's state (`optimizer.pt`), every random
number generator a run draws from (`rng.pt`), and `state.json` (the step, the run's settings and
whatever the trainer adds, e.g. its metric history), and any frozen models the run keeps beside the
one it trains (GRPO's reference model), each an r1mini checkpoint in a subdirectory. The whole
directory is written under a temporary name and renamed into place, so a crash leaves either the
previous checkpoint or the new one, never a mixture.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from r1mini.io.checkpoint import load as load_model
from r1mini.io.checkpoint import save as save_model
from r1mini.model import Transformer

STATE, OPTIMIZER, RNG = "state.json", "optimizer.pt", "rng.pt"


def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Python, NumPy and torch's global generators, plus any named `torch.Generator`s."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    """Restore what `rng_state` captured (named generators are restored in place)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    for name, g in (generators or {}).items():
        if name not in state["generators"]:
            raise ValueError(f"the checkpoint has no state for generator {name!r}")
        g.set_state(state["generators"][name])


def save_training_state(
    directory: str | Path,
    model: Transformer,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    extra: dict[str, Any] | None = None,
    generators: dict[str, torch.Generator] | None = None,
    frozen: dict[str, Transformer] | None = None,
) -> Path:
    """Write model, optimizer, RNG states, `{"step": step, **extra}` (JSON-serialisable) and each
    `frozen[name]` (into `directory/name`, read back with `load_frozen`) atomically to `directory`.
    Returns the directory."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    try:
        save_model(model, tmp)
        for name, frozen_model in (frozen or {}).items():
            save_model(frozen_model, tmp / name)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / OPTIMIZER)
        torch.save(rng_state(generators), tmp / RNG)
        (tmp / STATE).write_text(json.dumps({"step": step, **(extra or {})}, indent=1))
        old = directory.with_name(f".{directory.name}.old")
        if directory.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_training_state(
    directory: str | Path,
    optimizer_factory: Any | None = None,
    generators: dict[str, torch.Generator] | None = None,
) -> tuple[Transformer, torch.optim.Optimizer | None, dict[str, Any]]:
    """Load what `save_training_state` wrote: returns (model, optimizer, state dict with "step").

    `optimizer_factory(model) -> Optimizer` builds the optimizer whose state is then restored; the
    RNGs (global and the named `generators`) are restored too, so the run continues exactly."""
    directory = Path(directory)
    state = read_state(directory)
    model = load_model(directory)
    optimizer = None
    if optimizer_factory is not None:
        optimizer = optimizer_factory(model)
        if not (directory / OPTIMIZER).is_file():
            raise FileNotFoundError(f"{directory / OPTIMIZER} is missing: cannot resume the optimizer")
        optimizer.load_state_dict(torch.load(directory / OPTIMIZER, weights_only=False))
    set_rng_state(torch.load(directory / RNG, weights_only=False), generators)
    return model, optimizer, state


def read_state(directory: str | Path) -> dict[str, Any]:
    """The `state.json` of a training checkpoint: the step and what the trainer added."""
    path = Path(directory) / STATE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a training checkpoint")
    return json.loads(path.read_text())


def load_frozen(directory: str | Path, name: str) -> Transformer:
    """The frozen model `name` that `save_training_state(..., frozen={name: model})` wrote."""
    path = Path(directory) / name
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: the checkpoint holds no frozen model {name!r}")
    return load_model(path)
