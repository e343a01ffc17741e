"""Training state on disk: a run can be killed at any instant and resumed exactly.

A training checkpoint is a directory: the model as an r1mini checkpoint (`model.safetensors` +
`config.json`, see `r1mini.io.checkpoint`), the optimizer's state and every random number
generator a run draws from (`optimizer.*`, `rng.*`: safetensors + JSON, see `r1mini.io.tree`;
nothing is pickled, so resuming someone else's checkpoint cannot run code), `state.json` (the step,
the run's settings and whatever the trainer adds, e.g. its metric history), any frozen models the
run keeps beside the one it trains (GRPO's reference model), each an r1mini checkpoint in a
subdirectory, and, written last, `manifest.json` with the SHA-256 of every one of those files.

Saving `OUT/checkpoint` never touches the previous checkpoint until the new one is complete:

1. the new checkpoint is written into `OUT/.checkpoint.new`, its manifest last;
2. `OUT/checkpoint` is renamed to `OUT/.checkpoint.old`;
3. `OUT/.checkpoint.new` is renamed to `OUT/checkpoint`;
4. `OUT/.checkpoint.old` is deleted.

Whatever instant a crash hits, one complete checkpoint survives (in `checkpoint`, `.checkpoint.new`
or `.checkpoint.old`), and `find_checkpoint` picks the newest complete one, finishes the interrupted
swap, and says what it recovered. A half-written `.checkpoint.new` (no manifest yet) is ignored
and cleaned away by the next save.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from r1mini.io.atomic import atomic_write
from r1mini.io.checkpoint import load as load_model
from r1mini.io.checkpoint import save as save_model
from r1mini.io.checkpoint import write_manifest
from r1mini.io.manifest import verify_manifest
from r1mini.io.tree import load_tree, save_tree
from r1mini.model import Transformer

STATE, OPTIMIZER, RNG = "state.json", "optimizer", "rng"  # optimizer.{safetensors,json}, rng.{…}


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


def sibling(directory: str | Path, role: str) -> Path:
    """Where a save writes the new checkpoint (`role="new"`) and parks the previous one ("old")."""
    directory = Path(directory)
    return directory.with_name(f".{directory.name}.{role}")


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
    `frozen[name]` (into `directory/name`, read back with `load_frozen`) to `directory`, replacing
    it in the four crash-safe steps of the module docstring. Returns the directory."""
    directory = Path(directory)
    new = sibling(directory, "new")
    directory.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(new, ignore_errors=True)  # what an interrupted save left
    try:
        save_model(model, new)
        for name, frozen_model in (frozen or {}).items():
            save_model(frozen_model, new / name)
        if optimizer is not None:
            save_tree(optimizer.state_dict(), new, OPTIMIZER)
        save_tree(rng_state(generators), new, RNG)
        state = json.dumps({"step": step, **(extra or {})}, indent=1)
        atomic_write(new / STATE, lambda tmp: Path(tmp).write_text(state))
        write_manifest(
            new, model.config, model.embed.weight.dtype
        )  # last: from here on, `new` is a complete checkpoint
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    _swap_in(new, directory)
    return directory


def _swap_in(new: Path, directory: Path) -> None:
    """Steps 2-4: the complete checkpoint `new` takes `directory`'s place."""
    old = sibling(directory, "old")
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(new, directory)
    shutil.rmtree(old, ignore_errors=True)


def _complete_step(directory: Path) -> int:
    """The step of the training checkpoint `directory` after checking every byte of it; raises
    if it is incomplete or changed."""
    manifest = verify_manifest(directory)
    if STATE not in manifest["files"]:
        raise FileNotFoundError(f"{directory / STATE} is missing: not a training checkpoint")
    return int(read_state(directory)["step"])


def find_checkpoint(directory: str | Path) -> tuple[Path, str] | None:
    """The training checkpoint at `directory`, or None if there is none.

    If a crash interrupted a save, the newest complete checkpoint among `directory` and its
    `.new`/`.old` siblings is moved into `directory` (finishing the swap) and the note says which
    it was; otherwise the note is empty. A `directory` whose files changed raises: a damaged
    checkpoint is reported, never silently replaced by an older one."""
    directory = Path(directory)
    candidates: dict[Path, int] = {}
    if directory.exists():
        candidates[directory] = _complete_step(directory)
    for role in ("new", "old"):
        side = sibling(directory, role)
        try:
            candidates[side] = _complete_step(side)
        except (OSError, ValueError):
            continue  # absent, or a save that never finished
    if not candidates:
        return None
    order = [directory, sibling(directory, "new"), sibling(directory, "old")]  # preferred on a tie
    best = max(candidates, key=lambda path: (candidates[path], -order.index(path)))
    if best == directory:
        return directory, ""
    if best.name.endswith(".new"):
        _swap_in(best, directory)
    else:
        os.replace(best, directory)
    note = (
        f"a save of {directory} was interrupted; recovered the complete checkpoint of step "
        f"{candidates[best]} from {best.name}"
    )
    return directory, note


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
    model = load_model(directory)  # checks every file of the checkpoint against its manifest
    optimizer = None
    if optimizer_factory is not None:
        optimizer = optimizer_factory(model)
        optimizer.load_state_dict(load_tree(directory, OPTIMIZER))
    set_rng_state(load_tree(directory, RNG), generators)
    return model, optimizer, state


def read_state(directory: str | Path) -> dict[str, Any]:
    """The `state.json` of a training checkpoint: the step and what the trainer added."""
    path = Path(directory) / STATE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a training checkpoint")
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from e
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise ValueError(f"{path} must be a JSON object with an integer 'step'")
    return state


def load_frozen(directory: str | Path, name: str) -> Transformer:
    """The frozen model `name` that `save_training_state(..., frozen={name: model})` wrote."""
    path = Path(directory) / name
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: the checkpoint holds no frozen model {name!r}")
    return load_model(path)
