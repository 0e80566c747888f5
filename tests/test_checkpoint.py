"""Checkpoints: full-state round trip, weights_only refusal of pickled objects, averaging."""

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from nmt.model.bahdanau import Seq2Seq
from nmt.model.checkpoint import (
    FORMAT,
    UnsafeCheckpointError,
    load_checkpoint,
    load_model,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from nmt.model.config import preset


def tiny_model(seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(preset("tiny"), 30, 40)


def meta(model: Seq2Seq) -> dict:
    return {
        "model_config": model.cfg.model_dump(),
        "src_vocab": model.src_vocab,
        "tgt_vocab": model.tgt_vocab,
        "tokenizer_sha256": "0" * 64,
    }


def test_full_state_round_trip(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    src = torch.tensor([[5, 6, 3], [7, 3, 0]])
    tgt_in, tgt_out = torch.tensor([[2, 8], [2, 9]]), torch.tensor([[8, 3], [9, 3]])
    loss, _, _ = model(src, torch.tensor([3, 2]), tgt_in, tgt_out)
    loss.backward()
    optimizer.step()
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint(
        path,
        {
            "meta": meta(model),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": {"decay": 0.5, "bad": 1},
            "trainer": {"step": 7, "best_score": None},
            "data": {"epoch": 1, "batch": 3},
            "rng": rng_state(),
        },
    )
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left

    loaded = load_checkpoint(path)
    assert loaded["format"] == FORMAT
    assert loaded["data"] == {"epoch": 1, "batch": 3}
    assert loaded["trainer"]["step"] == 7
    optimizer2 = torch.optim.Adam(tiny_model(1).parameters(), lr=1e-3)
    optimizer2.load_state_dict(loaded["optimizer"])
    exp_avg = [s["exp_avg"] for s in optimizer.state_dict()["state"].values()]
    exp_avg2 = [s["exp_avg"] for s in optimizer2.state_dict()["state"].values()]
    assert all(torch.equal(a, b) for a, b in zip(exp_avg, exp_avg2, strict=True))

    restored, info = load_model(path)
    assert not restored.training
    assert info["src_vocab"] == 30
    for name, tensor in model.state_dict().items():
        assert torch.equal(restored.state_dict()[name], tensor), name


def test_rng_state_round_trip():
    state = rng_state()
    draws = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert draws[0] == again[0] and draws[1] == again[1]
    assert torch.equal(draws[2], again[2])


class Payload:
    """Unpickling this would run code: weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_object_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "model": {}, "meta": {}, "extra": Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match="pickled"):
        load_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError):
        load_model(path)
    assert "pwned" not in capsys.readouterr().out


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not an"):
        load_checkpoint(path)


LOAD_AND_MEASURE = """
import sys, torch
from nmt.model.checkpoint import load_model
def peak_mb():  # this process's own peak (getrusage's maxrss starts at the parent's size after exec)
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024
before = peak_mb()
model, _ = load_model(sys.argv[1])
print(peak_mb() - before, float(model.output.bias.detach().sum()))
"""


def test_loading_a_model_leaves_the_optimizer_state_in_the_file(tmp_path):
    """load_model maps the checkpoint: a training checkpoint's 256 MB of optimizer state is not read (its
    peak memory grows by a few MB, not 256), and the model's weights are the saved ones."""
    model = tiny_model()
    with torch.no_grad():
        model.output.bias.fill_(0.25)
    path = tmp_path / "last.pt"
    state = {"meta": meta(model), "model": model.state_dict(), "optimizer": torch.ones(1 << 26)}
    save_checkpoint(path, state)
    done = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    grown_mb, bias_sum = done.stdout.split()
    assert float(bias_sum) == pytest.approx(0.25 * len(model.output.bias))
    assert int(grown_mb) < 64
