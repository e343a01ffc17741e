"""r1mini checkpoints: weights as safetensors plus the config as JSON, written atomically.

A checkpoint is a directory holding `model.safetensors` and `config.json`. Each file is written to a
temporary name in the same directory and renamed into place, so a crash mid-write never leaves a
half-written file where a good one was.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from r1mini.config import ModelConfig
from r1mini.model import Transformer

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the user's usual permissions
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(model: Transformer, directory: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Save `model` to `directory` (created if needed). Returns the directory."""
    directory = Path(directory)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        state.pop("head.weight")
    atomic_write(directory / WEIGHTS, lambda tmp: save_file(state, tmp, metadata=metadata))
    config_json = json.dumps(dataclasses.asdict(model.config), indent=2)
    atomic_write(directory / CONFIG, lambda tmp: Path(tmp).write_text(config_json))
    return directory


def load_config(directory: str | Path) -> ModelConfig:
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not an r1mini checkpoint directory")
    try:
        fields = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); the checkpoint is corrupt") from e
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    if unknown := sorted(set(fields) - known):
        raise ValueError(f"{path} has fields r1mini does not know: {unknown}")
    return ModelConfig(**fields)


def load(directory: str | Path, device: str | torch.device = "cpu") -> Transformer:
    """Build the model a checkpoint describes and load its weights."""
    directory = Path(directory)
    model = Transformer(load_config(directory))
    path = directory / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the checkpoint has a config but no weights")
    try:
        state = load_file(path, device=str(device))
    except Exception as e:  # safetensors raises its own error types for truncated/garbled files
        raise ValueError(f"{path} could not be read ({e}); the checkpoint is corrupt") from e
    load_state_dict(model, state)
    return model.to(device)


def load_state_dict(model: Transformer, state: dict[str, torch.Tensor]) -> None:
    """Load `state` into `model`, or raise one error listing every missing, unexpected and
    shape-mismatched key."""
    expected = model.state_dict()
    if model.config.tie_embeddings:
        state = {**state, "head.weight": state.get("head.weight", state.get("embed.weight"))}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            "checkpoint does not match the model config:\n"
            f"  missing keys ({len(missing)}): {missing}\n"
            f"  unexpected keys ({len(unexpected)}): {unexpected}\n"
            f"  mismatched shapes ({len(mismatched)}): {mismatched}"
        )
    model.load_state_dict(state)
