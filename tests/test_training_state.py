"""Training checkpoints hold no pickle, survive a kill at any instant of a save, and resume exactly."""

import json
import os
import pickle
import shutil
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from r1mini import ModelConfig, Transformer
from r1mini.io.checkpoint import load, write_manifest
from r1mini.io.tree import load_tree, save_tree
from r1mini.reasoning.tokenizer import VOCAB_SIZE
from r1mini.training import TrainConfig, Trainer
from r1mini.training.state import find_checkpoint, rng_state, sibling

FAST = dict(batch_size=4, kinds=("arithmetic",), eval_tasks=4, max_new_tokens=16)


def nano() -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig.preset("nano", vocab_size=VOCAB_SIZE))


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in ("tokens_per_s",)} for m in history]


def test_optimizer_and_rng_state_round_trip_without_pickle(tmp_path):
    run = Trainer(nano(), TrainConfig(steps=2, **FAST), progress=False)
    run.run()
    generator = torch.Generator().manual_seed(7)
    tree = {"optimizer": run.optimizer.state_dict(), "rng": rng_state({"g": generator})}
    save_tree(tree, tmp_path, "state")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.safetensors"]
    back = load_tree(tmp_path, "state")
    # the same structure and types: tuples stay tuples, int keys stay ints, arrays stay arrays
    assert back["rng"]["python"] == tree["rng"]["python"]
    numpy_back, numpy_state = back["rng"]["numpy"], tree["rng"]["numpy"]
    assert numpy_back[0] == numpy_state[0] and numpy_back[2:] == numpy_state[2:]
    assert numpy_back[1].dtype == np.uint32 and np.array_equal(numpy_back[1], numpy_state[1])
    assert torch.equal(back["rng"]["generators"]["g"], generator.get_state())
    assert sorted(back["optimizer"]["state"]) == sorted(tree["optimizer"]["state"])
    for key, saved in tree["optimizer"]["state"].items():
        for name, value in saved.items():
            assert torch.equal(back["optimizer"]["state"][key][name], value), (key, name)
    assert back["optimizer"]["param_groups"] == tree["optimizer"]["param_groups"]


class Payload:
    """A pickle that, when unpickled, creates a file: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_is_never_run(tmp_path):
    out = tmp_path / "run"
    Trainer(nano(), TrainConfig(steps=2, **FAST), out_dir=out, progress=False).run()
    checkpoint = out / "checkpoint"
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Payload(marker))
    pickle.loads(payload)  # the payload works: unpickling it creates the marker
    assert marker.exists()
    marker.unlink()

    # 1. beside the real files, under the names older checkpoints used: never read
    for name in ("optimizer.pt", "rng.pt"):
        (checkpoint / name).write_bytes(payload)
    assert Trainer.resume(checkpoint, progress=False).step == 2
    # 2. in place of the optimizer's tensors: the manifest names the changed file
    tensors = checkpoint / "optimizer.safetensors"
    tensors.write_bytes(payload)
    with pytest.raises(ValueError, match=r"optimizer\.safetensors has changed since it was saved"):
        Trainer.resume(checkpoint, progress=False)
    # 3. with a manifest rewritten to match: the file is parsed as safetensors, which is not pickle
    write_manifest(checkpoint, ModelConfig.preset("nano", vocab_size=VOCAB_SIZE), torch.float32)
    with pytest.raises(ValueError, match=r"optimizer\.safetensors is not a safetensors file"):
        Trainer.resume(checkpoint, progress=False)
    # 4. as the model weights
    shutil.copy(checkpoint / "rng.safetensors", tensors)  # any valid file, to get past step 3
    (checkpoint / "model.safetensors").write_bytes(payload)
    write_manifest(checkpoint, ModelConfig.preset("nano", vocab_size=VOCAB_SIZE), torch.float32)
    with pytest.raises(ValueError, match=r"model\.safetensors could not be read"):
        Trainer.resume(checkpoint, progress=False)
    assert not marker.exists()


# ---- a kill at every instant of a save --------------------------------------------------------------
# Each file-system call of a save is a place where the process can die. A forked child saves and
# kills itself with SIGKILL right before the k-th such call (no `finally`, no cleanup, as a real
# crash); the parent then resumes from whatever is on disk.
FILE_SYSTEM_CALLS = [
    (os, "replace"),
    (os, "rename"),
    (os, "mkdir"),
    (os, "fsync"),
    (os, "unlink"),
    (os, "rmdir"),
    (shutil, "rmtree"),
    (tempfile, "mkstemp"),
]


def save_killed_at(run: Trainer, directory: Path, k: int | None) -> int:
    """Fork; the child runs `run.save(directory)` and dies before its k-th file-system call (never,
    with k=None: then it counts them). Returns the number of calls (or k)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        torch.set_num_threads(1)
        calls = 0

        def wrap(module, name):
            real = getattr(module, name)

            def hooked(*args, **kwargs):
                nonlocal calls
                calls += 1
                if calls == k:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)

            setattr(module, name, hooked)

        for module, name in FILE_SYSTEM_CALLS:
            wrap(module, name)
        run.save(directory)
        os.write(write, str(calls).encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the saving child (kill at call {k}) hung")
        time.sleep(0.01)
    reported = os.read(read, 64)
    os.close(read)
    status = os.waitstatus_to_exitcode(done[1])
    if k is None:
        assert status == 0
        return int(reported)
    assert status == -signal.SIGKILL, f"the child was to die at call {k} but exited with {status}"
    return k


@pytest.mark.integration  # ~50 forks and resumes: in `make test`, not in `make test-fast`
def test_a_kill_at_any_instant_of_a_save_resumes_exactly(tmp_path):
    config = TrainConfig(steps=4, checkpoint_every=2, **FAST)
    straight = Trainer(nano(), config, progress=False)
    straight.run()

    # a run at step 3 whose directory holds the checkpoint of step 2; its save of step 3 dies
    first = Trainer(nano(), config, out_dir=tmp_path / "template", progress=False)
    first.run(3)
    shutil.copytree(tmp_path / "template", tmp_path / "count")
    n_calls = save_killed_at(first, tmp_path / "count" / "checkpoint", None)
    assert n_calls >= 10, n_calls

    weights = {2: load(tmp_path / "template" / "checkpoint").state_dict(), 3: first.model.state_dict()}
    recovered_from = {}
    for k in range(1, n_calls + 1):
        out = tmp_path / f"kill-{k}"
        shutil.copytree(tmp_path / "template", out)
        save_killed_at(first, out / "checkpoint", k)
        found = find_checkpoint(out / "checkpoint")
        assert found is not None, f"killed before call {k}: nothing to resume"
        resumed = Trainer.resume(out / "checkpoint", progress=False)
        assert resumed.step in (2, 3)
        for name, tensor in resumed.model.state_dict().items():
            assert torch.equal(tensor, weights[resumed.step][name]), (k, name)
        recovered_from[k] = (resumed.step, found[1].split(" from ")[-1] if found[1] else "checkpoint")
        if k in (1, n_calls) or recovered_from[k] != recovered_from.get(k - 1):
            # where what is recovered changes (and at both ends): run on, exactly as if never killed
            resumed.run()
            assert without_timing(resumed.history) == without_timing(straight.history), k
            # the next save cleaned every temporary: only the checkpoint is left
            assert sorted(p.name for p in out.iterdir()) == ["checkpoint"], (k, list(out.iterdir()))
            assert not list((out / "checkpoint").glob(".*")), k
        shutil.rmtree(out)
    # early kills fall back to step 2; once the new checkpoint is complete, step 3 survives,
    # found in `.checkpoint.new` between the renames, or in `checkpoint` itself after them
    steps = [recovered_from[k][0] for k in sorted(recovered_from)]
    assert steps == sorted(steps) and steps[0] == 2 and steps[-1] == 3, recovered_from
    assert (3, ".checkpoint.new") in recovered_from.values(), recovered_from


def test_recovery_finishes_an_interrupted_swap_and_says_which(tmp_path):
    config = TrainConfig(steps=3, checkpoint_every=1, **FAST)
    run = Trainer(nano(), config, out_dir=tmp_path, progress=False)
    run.run(1)
    checkpoint = tmp_path / "checkpoint"
    run.run(1)
    shutil.copytree(checkpoint, sibling(checkpoint, "new"))  # step 2, complete
    run_two = json.loads((checkpoint / "state.json").read_text())["step"]
    os.replace(checkpoint, sibling(checkpoint, "old"))  # as if killed between the two renames
    (sibling(checkpoint, "old") / "state.json").write_text(json.dumps({"step": 1}))  # (old is older)
    path, note = find_checkpoint(checkpoint)
    assert path == checkpoint and read_step(checkpoint) == run_two == 2
    assert note.endswith("recovered the complete checkpoint of step 2 from .checkpoint.new")
    assert find_checkpoint(checkpoint) == (checkpoint, "")  # recovered once, nothing more to do

    # a `.new` the crash left without a manifest is ignored; `.old` is used
    os.replace(checkpoint, sibling(checkpoint, "old"))
    sibling(checkpoint, "new").mkdir()
    (sibling(checkpoint, "new") / "model.safetensors").write_bytes(b"half")
    path, note = find_checkpoint(checkpoint)
    assert read_step(checkpoint) == 2 and note.endswith("from .checkpoint.old")


def read_step(directory: Path) -> int:
    return json.loads((directory / "state.json").read_text())["step"]


def test_a_damaged_checkpoint_is_reported_not_replaced(tmp_path):
    Trainer(nano(), TrainConfig(steps=1, **FAST), out_dir=tmp_path, progress=False).run()
    checkpoint = tmp_path / "checkpoint"
    (checkpoint / "state.json").write_text(json.dumps({"step": 1, "history": []}))
    with pytest.raises(ValueError, match=r"state\.json has changed since it was saved"):
        find_checkpoint(checkpoint)
    assert find_checkpoint(tmp_path / "nothing") is None
    with pytest.raises(FileNotFoundError, match="holds no checkpoint to resume"):
        Trainer.resume(tmp_path / "nothing", progress=False)
