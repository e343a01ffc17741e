"""r1mini checkpoints: weights as safetensors, the config as JSON, and a manifest of both.

A checkpoint is a directory holding `model.safetensors`, `config.json` and `manifest.json` (the
SHA-256 of every file, see `r1mini.io.manifest`). Each file is written atomically (`atomic_write`)
and the manifest last, so a crash mid-save leaves either the previous checkpoint or a directory
that `load` reports as unfinished, never weights that silently disagree with their config.

`load` trusts nothing it reads: the manifest must match every byte; `config.json` must name every
field of `ModelConfig` (a missing field is an error, never a silent default: `{}` would otherwise
build the 671B model); the tensors must have the names, shapes and dtypes the config implies, be
finite, and agree with `tie_embeddings`. safetensors holds only tensors, so reading a checkpoint
never runs code (no pickle anywhere).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from r1mini.config import ModelConfig
from r1mini.io.atomic import atomic_write, remove_temporaries
from r1mini.io.manifest import MANIFEST, build_manifest, sha256_json, verify_manifest
from r1mini.model import Transformer

SHIPPED = (
    Path(__file__).resolve().parents[2] / "assets" / "checkpoints"
)  # the checkpoints the repository ships

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def save(model: Transformer, directory: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Save `model` to `directory` (created if needed), manifest last. Returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_temporaries(directory)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        state.pop("head.weight")
    atomic_write(directory / WEIGHTS, lambda tmp: save_file(state, tmp, metadata=metadata))
    config = dataclasses.asdict(model.config)
    atomic_write(directory / CONFIG, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2)))
    write_manifest(directory, model.config, model.embed.weight.dtype)
    return directory


def write_manifest(directory: str | Path, config: ModelConfig, dtype: torch.dtype) -> Path:
    """(Re)write `directory/manifest.json` over the files now in `directory`, recording the hash
    of the model's `config` and the `dtype` of its weights."""
    directory = Path(directory)
    manifest = build_manifest(
        directory,
        config_sha256=sha256_json(dataclasses.asdict(config)),
        dtype=str(dtype).removeprefix("torch."),
    )
    atomic_write(directory / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1)))
    return directory


def load_config(directory: str | Path) -> ModelConfig:
    """The `ModelConfig` in `directory/config.json`; every field must be named there."""
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not an r1mini checkpoint directory")
    try:
        fields = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); the checkpoint is corrupt") from e
    if not isinstance(fields, dict):
        raise ValueError(f"{path} must hold a JSON object of ModelConfig fields")
    known = [f.name for f in dataclasses.fields(ModelConfig)]
    if unknown := sorted(set(fields) - set(known)):
        raise ValueError(f"{path} has fields r1mini does not know: {unknown}")
    if missing := [name for name in known if name not in fields]:
        raise ValueError(f"{path} does not name every field; missing ({len(missing)}): {missing}")
    return ModelConfig(**fields)


def check_device(device: str | torch.device) -> torch.device:
    """`device` as a `torch.device` this machine has, or a ValueError saying why not."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device={device!r} is not a device torch knows ({e})") from e
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            raise ValueError(f"device={str(device)!r} is not available: {count} CUDA device(s) here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' is not available on this machine")
    return device


def load(
    directory: str | Path, device: str | torch.device = "cpu", *, allow_nonfinite: bool = False
) -> Transformer:
    """Build the model a checkpoint describes and load its weights, after checking every byte
    against the manifest. `allow_nonfinite=True` loads weights that hold NaN or inf."""
    directory = Path(directory)
    device = check_device(device)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory: not an r1mini checkpoint directory")
    manifest = verify_manifest(directory)
    config = load_config(directory)
    if sha256_json(dataclasses.asdict(config)) != manifest.get("config_sha256"):
        raise ValueError(f"{directory / CONFIG} describes another model than its manifest was written for")
    path = directory / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the checkpoint has a config but no weights")
    try:
        state = load_file(path)
    except Exception as e:  # safetensors raises its own error types for truncated/garbled files
        raise ValueError(f"{path} could not be read ({e}); the checkpoint is corrupt") from e
    if not allow_nonfinite:
        bad = [k for k, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
        if bad:
            raise ValueError(
                f"{path} holds NaN or inf in {len(bad)} tensors ({bad[:3]}); the run that wrote it "
                "had diverged (load(..., allow_nonfinite=True) reads it anyway)"
            )
    dtype = getattr(torch, str(manifest.get("dtype", "float32")), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{directory / MANIFEST}: dtype {manifest.get('dtype')!r} is not a floating dtype")
    with torch.device("meta"):  # names, shapes and dtypes checked before a byte is allocated
        check_state_dict(Transformer(config).to(dtype), state)
    model = Transformer(config).to(dtype)
    load_state_dict(model, state)
    return model.to(device)


def load_state_dict(model: Transformer, state: dict[str, torch.Tensor]) -> None:
    """Load `state` into `model` after `check_state_dict`."""
    model.load_state_dict(check_state_dict(model, state))


def check_state_dict(model: Transformer, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` as `model` loads it (a tied head filled in from the embedding), or one error listing
    every missing, unexpected, shape-mismatched and dtype-mismatched key (and a tied head that
    differs from the embedding). `model` may be on the meta device."""
    expected = model.state_dict()
    tied = model.config.tie_embeddings
    head, embed = state.get("head.weight"), state.get("embed.weight")
    if tied and head is not None and embed is not None and not torch.equal(head, embed):
        raise ValueError(
            "the config has tie_embeddings=True but the checkpoint's head.weight differs from "
            "embed.weight: these weights were trained untied"
        )
    if tied:
        state = {**state, "head.weight": state.get("head.weight", state.get("embed.weight"))}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    common = sorted(set(state) & set(expected))
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in common
        if state[k].shape != expected[k].shape
    ]
    dtypes = [
        f"{k}: checkpoint {state[k].dtype} vs model {expected[k].dtype}"
        for k in common
        if state[k].dtype != expected[k].dtype
    ]
    problems = {
        "missing keys": missing,
        "unexpected keys": unexpected,
        "mismatched shapes": mismatched,
        "mismatched dtypes": dtypes,
    }
    if any(problems.values()):
        listed = "; ".join(f"{name} ({len(keys)}): {keys}" for name, keys in problems.items() if keys)
        if not tied and missing == ["head.weight"]:
            listed += " (tie_embeddings=False in the config, yet the checkpoint has no head: were they tied?)"
        raise ValueError(f"checkpoint does not match the model config: {listed}")
    return state


def shipped(name: str) -> Transformer:
    """A checkpoint the repository ships (`SHIPPED / name`) on MLA's phase-chosen path: the shipped
    configs say "absorb" (saved before "auto" existed); no weight depends on the path, and "auto"
    trains and samples faster."""
    return load(SHIPPED / name).clone(attn_impl="auto")
