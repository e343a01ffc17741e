"""The model across processes on `torch.distributed` (gloo on CPUs, NCCL on GPUs; `torchrun`).

* `world.py`: the processes (`init_from_env` under torchrun, `spawn` from Python).
* `tensor.py`, `experts.py`, `shard.py`: inference sharded over a world — tensor-parallel
  attention heads, dense MLPs, shared experts, embedding and head; expert-parallel routed experts
  exchanged by all-to-all; `shard_model` swaps a model's layers for them.
* `data.py`: data-parallel training (DDP) for the trainers, equal to one process.
* `measure.py`: a live expert-parallel run with each process's experts, load and traffic.
"""

from r1mini.parallel.experts import ExpertParallelExperts
from r1mini.parallel.measure import measure_expert_parallel
from r1mini.parallel.shard import expert_parallel_layers, shard_model
from r1mini.parallel.world import World, init_from_env, spawn, world

__all__ = [
    "ExpertParallelExperts",
    "World",
    "expert_parallel_layers",
    "init_from_env",
    "measure_expert_parallel",
    "shard_model",
    "spawn",
    "world",
]
