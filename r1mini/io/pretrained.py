"""`load_pretrained`: the checkpoints DeepSeek publishes, loaded into r1mini's `Transformer`.

The published format (`r1mini.io.published`) is read the way a machine that cannot hold it all at
once must read it: the model is built on the meta device (no memory), every tensor name, shape and
dtype is checked against the config from the shards' headers alone (a safetensors header lists
them without reading any data), and only then are the tensors read, shard by shard, with
`safetensors.safe_open` (memory-mapped: one tensor at a time, never a whole shard in memory).

FP8 weights are dequantised to `dtype` (`fp8="dequantize"`, `w ≈ w_fp8 · weight_scale_inv` per
128×128 block), or kept in e4m3 with their scales (`fp8="keep"`) in `FP8Linear`/`FP8Experts`, which
compute through the FP8 kernels as DeepSeek serves the model (V3 paper §3.3).

`stream=True` keeps only the embedding, the final norm and the head resident: each block's
tensors are read from the shards just before its forward and freed right after
(`WeightStream`), so one GPU, or a CPU box with enough disk, runs the 671B model's prefill with
one block in memory beside them (27 GB of weights in bf16 at 671B, the largest MoE block being
most of it: `r1mini.accounting.streamed_weight_bytes`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from torch import nn

from r1mini.config import ModelConfig
from r1mini.fp8_format import BLOCK, FP8, weight_scale_shape
from r1mini.io.checkpoint import check_device
from r1mini.io.published import INDEX, SCALE, Target, expected_tensors, read_config, target
from r1mini.kernels import weight_dequant
from r1mini.model import Transformer
from r1mini.model.fp8 import use_fp8
from r1mini.model.rope import yarn_inv_freq
from r1mini.parallel.shard import shard_model
from r1mini.parallel.world import World

FP8Mode = Literal["dequantize", "keep"]
FLOATS = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F8_E4M3": FP8}


@dataclass
class ShardIndex:
    """Which shard holds each tensor (`weight_map`), the shards' open handles, and each tensor's
    dtype and shape as the shard headers state them."""

    directory: Path
    weight_map: dict[str, str]
    dtypes: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)
    _handles: dict[str, object] = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, directory: Path) -> ShardIndex:
        """The index of `directory` (or, without one, its single `model.safetensors`); every shard
        must exist and list exactly the tensors the index gives it."""
        index_path = directory / INDEX
        if index_path.is_file():
            try:
                weight_map = json.loads(index_path.read_text())["weight_map"]
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{index_path} is not a safetensors index with a weight_map ({e})") from e
        elif (directory / "model.safetensors").is_file():
            with safe_open(directory / "model.safetensors", "pt") as f:
                weight_map = dict.fromkeys(f.keys(), "model.safetensors")
        else:
            raise FileNotFoundError(f"{index_path} is missing (and there is no single model.safetensors)")
        index = cls(directory, weight_map)
        for shard in sorted(set(weight_map.values())):
            if not (directory / shard).is_file():
                raise FileNotFoundError(f"{directory / shard} is missing: {INDEX} lists tensors in it")
            handle = index.handle(shard)
            listed = {key for key, name in weight_map.items() if name == shard}
            for key in handle.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                if key in listed:
                    piece = handle.get_slice(key)
                    index.dtypes[key], index.shapes[key] = piece.get_dtype(), tuple(piece.get_shape())
            if absent := sorted(listed - set(index.dtypes)):
                raise ValueError(f"{directory / shard} lacks tensors the index places there: {absent[:5]}")
        return index

    def handle(self, shard: str):  # safetensors does not export its handle type
        """The open (memory-mapped) shard, opened once."""
        if shard not in self._handles:
            try:
                self._handles[shard] = self._stack.enter_context(safe_open(self.directory / shard, "pt"))
            except Exception as e:  # safetensors raises its own error types for damaged files
                raise ValueError(f"{self.directory / shard} is not a readable safetensors file ({e})") from e
        return self._handles[shard]

    def tensor(self, key: str) -> torch.Tensor:
        return self.handle(self.weight_map[key]).get_tensor(key)

    def slice(self, key: str):  # safetensors does not export its slice type
        """The tensor `key` unread: index it (`[a:b]`, `[:, a:b]`) to read only that part."""
        return self.handle(self.weight_map[key]).get_slice(key)

    def close(self) -> None:
        self._stack.close()
        self._handles.clear()


@dataclass(frozen=True)
class Plan:
    """What to read: for each r1mini module prefix ("" for the embedding, norm and head,
    "layers.3.", "mtp.0."), the published keys whose tensors go there, and their targets; the
    modules whose weights the checkpoint stores in FP8."""

    keys: dict[str, list[tuple[str, Target]]]
    fp8_modules: frozenset[str]


def plan(index: ShardIndex, config: ModelConfig, skip_layers: range = range(0)) -> Plan:
    """Check every tensor of `index` against `config` (names, shapes, dtypes, FP8 scales) and say
    where each goes; one error lists every problem. Tensors of `skip_layers` (an MTP module the
    caller does not want) are passed over."""
    expected = expected_tensors(config, fp8=False)  # weights; scales are checked against them
    missing = sorted(set(expected) - set(index.weight_map))
    unexpected, shapes, dtypes, scales = [], [], [], []
    keys: dict[str, list[tuple[str, Target]]] = {}
    fp8_modules = set()
    for key in sorted(index.weight_map):
        found = target(key, config)
        weight_key = key.removesuffix(SCALE) + "weight" if key.endswith("." + SCALE) else key
        if found is None or weight_key not in expected:
            if _layer_of(key) not in skip_layers:
                unexpected.append(key)
            continue
        dtype, shape = index.dtypes[key], index.shapes[key]
        if found.scale:
            want = weight_scale_shape(*expected[weight_key])
            if dtype != "F32" or shape != want:
                scales.append(f"{key}: {dtype} {list(shape)}, expected F32 {list(want)} for {weight_key}")
            continue  # read with its weight
        if shape != expected[key]:
            shapes.append(f"{key}: checkpoint {list(shape)} vs config {list(expected[key])}")
        if dtype not in FLOATS or (dtype == "F8_E4M3" and len(shape) != 2):
            dtypes.append(f"{key}: {dtype}")
        elif dtype == "F8_E4M3":
            if weight_key.removesuffix("weight") + SCALE not in index.weight_map:
                scales.append(f"{key} is FP8 but the checkpoint has no {SCALE} for it")
            fp8_modules.add(_module_of(found))
        if not found.shared:
            keys.setdefault(_prefix_of(found.name), []).append((key, found))
    problems = {
        "missing tensors": missing,
        "unexpected tensors": unexpected,
        "wrong shapes": shapes,
        "wrong dtypes": dtypes,
        "FP8 scales": scales,
    }
    if any(problems.values()):
        listed = "; ".join(f"{name} ({len(items)}): {items[:8]}" for name, items in problems.items() if items)
        raise ValueError(f"{index.directory} does not match its config.json: {listed}")
    return Plan(keys, frozenset(fp8_modules))


def _layer_of(key: str) -> int | None:
    parts = key.split(".")
    return (
        int(parts[2]) if parts[:2] == ["model", "layers"] and len(parts) > 2 and parts[2].isdigit() else None
    )


def _prefix_of(name: str) -> str:
    """The streamed unit a parameter belongs to: "layers.3.", "mtp.0.", or "" (always resident)."""
    parts = name.split(".")
    return f"{parts[0]}.{parts[1]}." if parts[0] in ("layers", "mtp") else ""


def _module_of(found: Target) -> str:
    """The module holding an FP8 weight: "layers.3.attn.wq_a" or "layers.3.ffn.experts"."""
    return found.name.removesuffix(".weight") if found.expert is None else found.name.rpartition(".")[0]


class Loader:
    """Reads planned tensors into a model: dequantised to the parameter's dtype, or, for modules
    kept in FP8, as e4m3 values and fp32 scales. A layer sharded over processes
    (`r1mini.parallel`) says which slice of the full tensor it holds (`shard`: dimension, slice);
    only that slice is read (`get_slice`), and routed experts held elsewhere not at all."""

    def __init__(self, model: Transformer, index: ShardIndex, plan: Plan, keep_fp8: bool) -> None:
        self.model, self.index, self.plan, self.keep_fp8 = model, index, plan, keep_fp8

    @torch.no_grad()
    def load(self, prefix: str) -> None:
        """Fill every tensor of the unit `prefix` (its parameters already allocated)."""
        for key, found in self.plan.keys.get(prefix, []):
            module_name, _, attr = found.name.rpartition(".")
            module = self.model.get_submodule(module_name)
            destination = getattr(module, attr)
            shard: tuple[int, slice] | None = getattr(module, "shard", None)
            row: int | slice = slice(None)
            if found.expert is not None:
                row = found.expert
                if shard is not None:  # expert parallel: this process holds the experts shard[1]
                    held = shard[1]
                    if not held.start <= found.expert < held.stop:
                        continue
                    row, shard = found.expert - held.start, None
            fp8 = self.index.dtypes[key] == "F8_E4M3"
            if fp8 and self.keep_fp8:
                getattr(module, attr + "_scale_inv")[row].copy_(self.index.tensor(_scale_of(key)))
                destination[row].copy_(self.index.tensor(key))
            else:
                destination[row].copy_(self._read(key, fp8, destination.dtype, shard))

    def _read(self, key: str, fp8: bool, dtype: torch.dtype, shard: tuple[int, slice] | None) -> torch.Tensor:
        """The tensor `key` (dequantised if FP8), or only its slice `shard` = (dimension, slice).
        An FP8 slice on 128-block boundaries reads its blocks' scales only; one that cuts a block
        (tiny models) dequantises the whole tensor first."""
        piece = self.index.slice(key)
        if shard is None:
            tensor = piece[:]
            return weight_dequant(tensor, self.index.tensor(_scale_of(key)), dtype) if fp8 else tensor
        dim, part = shard
        take = (lambda p, s: p[s]) if dim == 0 else (lambda p, s: p[:, s])
        if not fp8:
            return take(piece, part)
        length = self.index.shapes[key][dim]
        if part.start % BLOCK == 0 and (part.stop % BLOCK == 0 or part.stop == length):
            blocks = slice(part.start // BLOCK, -(-part.stop // BLOCK))
            scale = take(self.index.slice(_scale_of(key)), blocks)
            return weight_dequant(take(piece, part), scale, dtype)
        whole = weight_dequant(piece[:], self.index.tensor(_scale_of(key)), dtype)
        return take(whole, part)


def _scale_of(key: str) -> str:
    return key.removesuffix("weight") + SCALE


def _materialize(module: nn.Module, device: torch.device, config: ModelConfig) -> None:
    """Allocate `module`'s tensors on `device` (contents undefined until loaded) and set the two
    tensors a checkpoint does not hold: RoPE's frequencies and the routers' load counters."""
    module.to_empty(device=device)
    for sub in module.modules():
        if hasattr(sub, "inv_freq"):
            sub.inv_freq = yarn_inv_freq(config).to(device)
        if hasattr(sub, "load") and isinstance(sub.load, torch.Tensor):
            sub.load.zero_()


class WeightStream:
    """Blocks whose weights live on disk: each block (and MTP module) is read just before its
    forward and freed after it (hooks), so at most one block is resident beside the embedding,
    the final norm and the head.

    Attributes: peak_bytes (the most parameter bytes ever resident at once), reads (blocks read).
    """

    def __init__(self, model: Transformer, loader: Loader, device: torch.device) -> None:
        self.model, self.loader, self.device = model, loader, device
        self.peak_bytes, self.reads = 0, 0
        for prefix, unit in self.units():
            unit.register_forward_pre_hook(lambda module, args, prefix=prefix: self._bring(prefix, module))
            unit.register_forward_hook(lambda module, args, out: self._drop(module))

    def units(self) -> Iterator[tuple[str, nn.Module]]:
        yield from ((f"layers.{i}.", block) for i, block in enumerate(self.model.layers))
        yield from ((f"mtp.{k}.", module) for k, module in enumerate(self.model.mtp))

    def resident_bytes(self) -> int:
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors if t.device.type != "meta")

    def _bring(self, prefix: str, unit: nn.Module) -> None:
        _materialize(unit, self.device, self.model.config)
        self.loader.load(prefix)
        self.reads += 1
        self.peak_bytes = max(self.peak_bytes, self.resident_bytes())

    @staticmethod
    def _drop(unit: nn.Module) -> None:
        unit.to_empty(device="meta")


def load_pretrained(
    directory: str | Path,
    *,
    dtype: torch.dtype = torch.bfloat16,
    device: str | torch.device = "cpu",
    fp8: FP8Mode = "dequantize",
    mtp: bool = True,
    stream: bool = False,
    world: World | None = None,
    **config_overrides: object,
) -> Transformer:
    """A `Transformer` holding the weights of a published DeepSeek checkpoint in `directory`.

    dtype: of every weight not kept in FP8 (the routers' correction bias stays fp32, as published).
    fp8: "dequantize" FP8 weights to `dtype`, or "keep" them in e4m3 (FP8 checkpoints only).
    mtp: also load the MTP module (False skips its tensors and builds the model without it).
    stream: read each block from disk for its forward only (`WeightStream`, `model.weight_stream`).
    world: this process's place in a `torch.distributed` world: the model is sharded over it
        (`r1mini.parallel.shard_model`) and each process reads only the slices it holds.
    config_overrides: `ModelConfig` fields to change (e.g. `attn_impl="naive"`).
    Raises ValueError / FileNotFoundError naming every problem before any weight is read.
    """
    directory = Path(directory)
    if fp8 not in ("dequantize", "keep"):
        raise ValueError(f"fp8={fp8!r} must be 'dequantize' or 'keep'")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point or dtype == FP8:
        raise ValueError(f"dtype={dtype!r} must be a floating dtype such as torch.bfloat16")
    device = check_device(device)
    world = world or World()
    if world.size > 1 and (stream or fp8 == "keep"):
        raise ValueError(
            "a sharded load (world size > 1) reads FP8 dequantised and resident: no stream, no keep"
        )
    config, _ = read_config(directory, **config_overrides)
    skip = range(0)
    if not mtp:
        skip = range(config.n_layers, config.n_layers + config.n_mtp_layers)
        config = config.replace(n_mtp_layers=0)
    index = ShardIndex.read(directory)
    planned = plan(index, config, skip)
    with torch.device("meta"):
        model = Transformer(config).to(dtype)
    for moe in model.moe_layers():
        if moe.gate.bias is not None:
            moe.gate.bias = moe.gate.bias.float()  # e_score_correction_bias: fp32, as published
    if fp8 == "keep":
        use_fp8(model, set(planned.fp8_modules))
    shard_model(model, world)  # on the meta device: each parallel layer knows its slice
    loader = Loader(model, index, planned, keep_fp8=fp8 == "keep")
    if stream:
        resident = [model.embed, model.norm, model.head, model.rope]
        for module in resident:
            _materialize(module, device, config)
        loader.load("")
        model.weight_stream = WeightStream(model, loader, device)
        return model.eval()
    _materialize(model, device, config)
    for prefix in planned.keys:
        loader.load(prefix)
    index.close()
    return model.eval()
