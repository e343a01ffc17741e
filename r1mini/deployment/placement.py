"""Expert parallelism replayed on real routing (V3 paper §3.4.1, §2.1.2): which GPU hosts which
routed experts, and where a batch's tokens must then be sent.

`place_experts` places a layer's experts on devices (by group, round-robin, or balanced by an
observed load with redundant copies of busy experts, as V3 does from its serving statistics).
`simulate_expert_parallel` takes routing decisions recorded from a real model
(`Transformer.recording()`) and counts, for that placement, the (token, expert) pairs each device
computes and the copies of tokens dispatched between devices. Serving arithmetic that needs no
routing (memory, roofline, all-to-all bytes) is in `serving.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

Scheme = Literal["contiguous", "round_robin", "balanced"]
SCHEMES: tuple[Scheme, ...] = ("contiguous", "round_robin", "balanced")


def place_experts(
    n_experts: int,
    n_devices: int,
    scheme: Scheme = "contiguous",
    load: torch.Tensor | None = None,
    redundant_per_device: int = 0,
) -> list[list[int]]:
    """Which experts each of `n_devices` devices hosts (a list of expert ids per device).

    `contiguous`: device d hosts experts `d·E/D … (d+1)·E/D − 1`, so a group of consecutive experts
    stays on one device and group-limited routing limits the devices a token reaches (node-limited
    routing, which V3 describes for training, §2.1.2). `round_robin`: expert e on device
    `e mod D`. `balanced`: by the observed
    `load` [E], after §3.4.1: first `redundant_per_device · D` extra copies go, one at a time, to
    the expert with the highest load per copy (a copied expert's load is shared by its copies);
    then, heaviest load per copy first, each expert's copies go to the least-loaded devices that
    still have a free slot (`E/D + redundant_per_device` slots each), never two on one device.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r} must be one of {list(SCHEMES)}")
    if n_devices < 1 or n_experts % n_devices:
        raise ValueError(f"n_devices={n_devices} must divide n_experts={n_experts}")
    if redundant_per_device < 0 or (redundant_per_device and scheme != "balanced"):
        raise ValueError(
            f"redundant_per_device={redundant_per_device} must be >= 0, and > 0 only with "
            f"scheme='balanced' (copies are placed by load; got scheme={scheme!r})"
        )
    if scheme == "balanced" and (load is None or load.shape != (n_experts,)):
        shape = None if load is None else tuple(load.shape)
        raise ValueError(f"scheme='balanced' needs load of shape ({n_experts},), got {shape}")
    per_device = n_experts // n_devices
    if scheme == "contiguous":
        return [list(range(d * per_device, (d + 1) * per_device)) for d in range(n_devices)]
    if scheme == "round_robin":
        return [list(range(d, n_experts, n_devices)) for d in range(n_devices)]
    weight = [float(x) for x in load]
    copies = [1] * n_experts
    for _ in range(redundant_per_device * n_devices):
        candidates = [e for e in range(n_experts) if copies[e] < n_devices]
        copies[max(candidates, key=lambda e: weight[e] / copies[e])] += 1
    slots = per_device + redundant_per_device
    devices: list[list[int]] = [[] for _ in range(n_devices)]
    totals = [0.0] * n_devices
    for e in sorted(range(n_experts), key=lambda e: -weight[e] / copies[e]):
        free = sorted((d for d in range(n_devices) if len(devices[d]) < slots), key=totals.__getitem__)
        if len(free) < copies[e]:
            raise ValueError(
                f"cannot place {copies[e]} copies of expert {e} on distinct devices; "
                f"use fewer redundant_per_device (got {redundant_per_device})"
            )
        for d in free[: copies[e]]:
            devices[d].append(e)
            totals[d] += weight[e] / copies[e]
    return devices


@dataclass(frozen=True)
class EPTraffic:
    """One batch of routed tokens on one expert placement.

    Attributes:
        placement: expert ids per device (`place_experts`).
        pairs: [D, E] (token, expert) pairs each device computes for each expert (an expert's
            pairs are split among the devices holding a copy of it).
        load: [D] (token, expert) pairs each device computes, `pairs` summed over experts.
        traffic: [D, D] dispatched copies from a token's home device (row) to a device hosting
            one of its experts (column); a token goes once to each device it needs, whatever the
            number of its experts there. The diagonal stays local; the rest crosses devices.
        devices_per_token: [N] distinct devices each token is dispatched to.
        leaves_home: [N] bool, the token needs at least one device other than its home.
    """

    placement: list[list[int]]
    pairs: torch.Tensor
    load: torch.Tensor
    traffic: torch.Tensor
    devices_per_token: torch.Tensor
    leaves_home: torch.Tensor

    @property
    def imbalance(self) -> float:
        """Busiest device's load over the mean load (1 = balanced): the step waits for the busiest."""
        return float(self.load.max() / self.load.float().mean())

    @property
    def remote_copies(self) -> int:
        return int(self.traffic.sum() - self.traffic.diagonal().sum())

    @property
    def remote_share(self) -> float:
        """Share of the dispatched copies that cross devices."""
        return self.remote_copies / float(self.traffic.sum())


def simulate_expert_parallel(ids: torch.Tensor, home: torch.Tensor, placement: list[list[int]]) -> EPTraffic:
    """Replay routing decisions on a placement. ids: [N, k] chosen experts of N tokens (a layer's
    `Gate` record, padding removed); home: [N] the device each token's sequence lives on (data
    parallel attention). An expert with several copies serves its tokens in turn (token n takes
    copy `n mod copies`), which splits its load evenly."""
    if ids.dim() != 2 or home.shape != ids.shape[:1]:
        raise ValueError(f"ids must be [N, k] and home [N]; got {tuple(ids.shape)} and {tuple(home.shape)}")
    n_devices = len(placement)
    n_experts = max(e for experts in placement for e in experts) + 1
    hosts: list[list[int]] = [[] for _ in range(n_experts)]
    for d, experts in enumerate(placement):
        for e in experts:
            hosts[e].append(d)
    missing = [e for e in range(n_experts) if not hosts[e]]
    if missing or int(ids.max()) >= n_experts:
        raise ValueError(f"placement hosts no copy of experts {missing or [int(ids.max())]}")
    if int(home.min()) < 0 or int(home.max()) >= n_devices:
        raise ValueError(f"home ids must lie in 0..{n_devices - 1}")
    n_tokens, k = ids.shape
    slot = torch.arange(n_tokens).unsqueeze(1).expand(n_tokens, k)  # [N, k]
    copies = torch.tensor([len(h) for h in hosts])  # [E]
    table = torch.full((n_experts, int(copies.max())), -1, dtype=torch.long)  # [E, max copies]
    for e, h in enumerate(hosts):
        table[e, : len(h)] = torch.tensor(h)
    device = table[ids, slot % copies[ids]]  # [N, k] the device that computes each pair
    pairs = torch.zeros(n_devices, n_experts, dtype=torch.long)  # [D, E]
    one_each = torch.ones(ids.numel(), dtype=torch.long)
    pairs.index_put_((device.flatten(), ids.flatten()), one_each, accumulate=True)
    reached = torch.zeros(n_tokens, n_devices, dtype=torch.bool)
    reached[torch.arange(n_tokens).unsqueeze(1), device] = True  # [N, D]
    traffic = torch.zeros(n_devices, n_devices, dtype=torch.long)
    traffic.index_add_(0, home, reached.long())  # [D, D]
    others = reached.clone()
    others[torch.arange(n_tokens), home] = False
    return EPTraffic(
        placement=placement,
        pairs=pairs,
        load=pairs.sum(1),
        traffic=traffic,
        devices_per_token=reached.sum(-1),
        leaves_home=others.any(-1),
    )
