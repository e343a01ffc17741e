"""Nested Python state as safetensors + JSON, so that reading it can never run code.

An optimizer's `state_dict()` and the random generators' states are trees of dicts, lists and
tuples whose leaves are tensors, NumPy arrays, numbers, strings and None. `torch.save` pickles such
trees, and unpickling a file runs whatever code the file names: a checkpoint passed around a
classroom could run anything on the machine that resumes it. Here a tree is split in two files
that hold only data:

* `NAME.safetensors`: every tensor and array leaf, under the keys `0`, `1`, …;
* `NAME.json`: the structure, where a dict is `{"dict": [[key, value], …]}` (its keys may be ints),
  a tuple `{"tuple": […]}`, a tensor `{"tensor": "3"}`, an array `{"ndarray": "4", "dtype": "uint32"}`,
  and lists, numbers, strings and None are themselves.

`load_tree(save_tree(tree))` equals `tree`, types included (tuples stay tuples, int keys stay int).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from r1mini.io.atomic import atomic_write

PLAIN = (bool, int, float, str, type(None))


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach().cpu().contiguous().clone()
        return {"tensor": key}
    if isinstance(value, np.ndarray):
        key = str(len(tensors))
        tensors[key] = torch.from_numpy(value.astype(np.int64 if value.dtype.kind in "iu" else np.float64))
        return {"ndarray": key, "dtype": str(value.dtype)}
    if isinstance(value, dict):
        if not all(isinstance(k, (int, str)) for k in value):
            raise TypeError(f"save_tree: dict keys must be int or str; got {[type(k) for k in value]}")
        return {"dict": [[k, _encode(v, tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, np.generic):  # a NumPy scalar, e.g. in NumPy's RNG state
        return value.item()
    if isinstance(value, PLAIN):
        return value
    raise TypeError(f"save_tree: cannot store a {type(value).__name__} without pickle")


def _decode(node: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(node, PLAIN):
        return node
    if isinstance(node, list):
        return [_decode(v, tensors, where) for v in node]
    if isinstance(node, dict) and len(node) == 1 and isinstance(node.get("tuple"), list):
        return tuple(_decode(v, tensors, where) for v in node["tuple"])
    if isinstance(node, dict) and len(node) == 1 and isinstance(node.get("dict"), list):
        pairs = node["dict"]
        if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], (int, str)) for p in pairs):
            raise ValueError(f"{where}: a dict must be a list of [key, value] pairs")
        return {k: _decode(v, tensors, where) for k, v in pairs}
    if isinstance(node, dict) and set(node) in ({"tensor"}, {"ndarray", "dtype"}):
        key = node.get("tensor", node.get("ndarray"))
        if key not in tensors:
            raise ValueError(f"{where} refers to tensor {key!r}, which its .safetensors file does not hold")
        if "tensor" in node:
            return tensors[key]
        return tensors[key].numpy().astype(np.dtype(node["dtype"]))
    raise ValueError(f"{where}: {str(node)[:60]!r} is not a value r1mini writes")


def save_tree(tree: Any, directory: str | Path, name: str) -> None:
    """Write `tree` as `directory/name.safetensors` + `directory/name.json`, each atomically."""
    directory = Path(directory)
    tensors: dict[str, torch.Tensor] = {}
    structure = json.dumps(_encode(tree, tensors))
    atomic_write(directory / f"{name}.safetensors", lambda tmp: save_file(tensors, tmp))
    atomic_write(directory / f"{name}.json", lambda tmp: Path(tmp).write_text(structure))


def load_tree(directory: str | Path, name: str) -> Any:
    """The tree `save_tree(tree, directory, name)` wrote. Raises ValueError naming the file if
    either is not what r1mini writes."""
    directory = Path(directory)
    paths = [directory / f"{name}.safetensors", directory / f"{name}.json"]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing")
    try:
        tensors = load_file(paths[0])
    except Exception as e:  # safetensors raises its own error types for files it cannot parse
        raise ValueError(f"{paths[0]} is not a safetensors file ({e})") from e
    try:
        structure = json.loads(paths[1].read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{paths[1]} is not valid JSON ({e})") from e
    return _decode(structure, tensors, str(paths[1]))
