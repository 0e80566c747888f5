"""The train stage: loss falls, resume after SIGKILL equals an uninterrupted run, DDP = 1 process."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece as spm
import torch

from nmt.core.atomic import write_bytes, write_parquet
from nmt.core.schema import TOKENS
from nmt.core.vocab import SPECIAL_IDS
from nmt.data.synthetic import generate_splits
from nmt.model.checkpoint import load_checkpoint, load_model
from nmt.text.tokenization import Tokenizer
from nmt.train.config import TrainConfig
from nmt.train.run import run_train

REPO = Path(__file__).resolve().parents[1]


def make_tokenize_dir(path: Path, n_train: int = 300, n_valid: int = 20) -> Path:
    """A tokenize directory (spm.model, train/valid TOKENS) of the generated corpus."""
    splits = generate_splits(0, {"valid": n_valid, "train": n_train})
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([p.src for p in splits["train"]] + [p.tgt for p in splits["train"]]),
        model_writer=model,
        vocab_size=200,
        hard_vocab_limit=False,
        minloglevel=2,
        **SPECIAL_IDS,
    )
    write_bytes(path / "spm.model", model.getvalue())
    tok = Tokenizer.load(path)
    for split, pairs in splits.items():
        s = tok.encode_src([p.src for p in pairs])
        t = tok.encode_tgt([p.tgt for p in pairs])
        table = pa.table(
            {
                "id": range(len(s)),
                "src_ids": s,
                "tgt_ids": t,
                "src_len": [len(x) for x in s],
                "tgt_len": [len(x) for x in t],
            },
            schema=TOKENS,
        )
        write_parquet(path / f"{split}.parquet", table)
    return path


@pytest.fixture(scope="module")
def tokenize_dir(tmp_path_factory) -> Path:
    return make_tokenize_dir(tmp_path_factory.mktemp("tokenize"))


def config(**overrides) -> TrainConfig:
    settings = dict(
        preset="tiny",
        batch_tokens=256,
        lr=3e-3,
        max_epochs=None,
        valid_every=25,
        log_every=10,
        num_threads=1,
    )
    return TrainConfig(**{**settings, **overrides})


def metrics(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def model_tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def test_loss_falls_and_files_are_written(tokenize_dir, tmp_path):
    out = tmp_path / "train"
    summary = run_train(tokenize_dir, config(max_steps=100, valid_every=50, output_vocabulary="target"), out)
    rows = metrics(out)
    assert [r["step"] for r in rows] == [50, 100]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.3
    assert rows[-1]["valid_loss"] < rows[0]["valid_loss"]
    assert summary["steps"] == 100 and summary["stopped"] == "max_steps"
    assert summary["tokens_per_s"] > 0 and summary["params"] > 0
    assert summary["valid_bleu"] == rows[-1]["valid_bleu"]
    assert json.loads((out / "config.json").read_text())["preset"] == "tiny"
    model, meta = load_model(out / "checkpoints" / "best.pt")
    assert meta["step"] == summary["best_step"]
    assert meta["tokenizer_sha256"] == Tokenizer.load(tokenize_dir).sha256
    # The output layer scores the specials and the pieces of the training targets, not the joint vocabulary.
    targets = pq.read_table(tokenize_dir / "train.parquet").column("tgt_ids").combine_chunks().values
    expected = sorted({0, 1, 2, 3} | set(targets.to_pylist()))
    assert model.output_ids.tolist() == expected
    assert (
        meta["output_vocab"]
        == len(expected)
        < meta["tgt_vocab"]
        == Tokenizer.load(tokenize_dir).tgt_vocab_size
    )
    # A rerun of a finished training resumes, finds nothing to do, and changes nothing.
    again = run_train(tokenize_dir, config(max_steps=100, valid_every=50, output_vocabulary="target"), out)
    assert again["steps"] == 100 and again["resumed_from_step"] == 100
    assert len(metrics(out)) == len(rows)


def test_time_budget_epochs_and_early_stopping(tokenize_dir, tmp_path):
    by_epochs = run_train(tokenize_dir, config(max_epochs=1, valid_every=100), tmp_path / "a")
    assert by_epochs["stopped"] == "max_epochs" and by_epochs["epochs"] == 1
    budget = run_train(tokenize_dir, config(max_minutes=0.02, valid_every=1000), tmp_path / "b")
    # The whole budget (1.2 s) is used, and training stops within a step or two after it.
    assert budget["stopped"] == "time_budget" and 1.2 <= budget["seconds"] < 10
    early = run_train(
        tokenize_dir,
        config(lr=1e-9, valid_every=5, patience=2, best_metric="loss"),
        tmp_path / "c",
    )
    assert early["stopped"] == "early_stopping" and early["steps"] <= 15


def test_resume_refuses_other_settings(tokenize_dir, tmp_path):
    run_train(tokenize_dir, config(max_steps=5), tmp_path)
    with pytest.raises(ValueError, match="other settings"):
        run_train(tokenize_dir, config(max_steps=10, lr=1e-3), tmp_path)
    assert run_train(tokenize_dir, config(max_steps=10), tmp_path)["steps"] == 10


# Runs `python -m nmt.train` with every step slowed down, so the test can kill it mid-run.
SLOW_CHILD = """
import sys, time
from nmt.train.run import main
from nmt.train.trainer import Trainer
step = Trainer.train_step
def slow_step(self, group):
    time.sleep(0.02)
    return step(self, group)
Trainer.train_step = slow_step
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_resume_after_sigkill_equals_uninterrupted(tokenize_dir, tmp_path):
    cfg = config(max_steps=60, valid_every=15, model={"dropout": 0.3})  # dropout: RNG state
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(cfg.model_dump_json())
    out = tmp_path / "killed"
    cmd = [sys.executable, "-c", SLOW_CHILD, str(tokenize_dir), str(out), "--config", str(cfg_path)]
    child = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        path = out / "metrics.jsonl"
        if path.exists() and any(r["step"] >= 30 for r in metrics(out)):
            break
        time.sleep(0.01)
    time.sleep(0.1)  # a few steps past the checkpoint
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    killed_at = load_checkpoint(out / "checkpoints" / "last.pt")["meta"]["step"]
    assert 30 <= killed_at < 60

    resumed = subprocess.run(
        [sys.executable, "-m", "nmt.train", *cmd[3:]], cwd=REPO, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed_from_step"] == killed_at

    straight = tmp_path / "straight"
    run_train(tokenize_dir, cfg, straight)
    a = model_tensors(out / "checkpoints" / "last.pt")
    b = model_tensors(straight / "checkpoints" / "last.pt")
    for name in b:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    assert [r["step"] for r in metrics(out)] == [r["step"] for r in metrics(straight)]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="no gloo backend")
def test_ddp_step_matches_single_process(tokenize_dir, tmp_path):
    base = config(max_steps=1, valid_every=1)
    single = run_train(tokenize_dir, base.model_copy(update={"accum_steps": 2}), tmp_path / "one")
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(base.model_dump_json())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    result = subprocess.run(
        [*torchrun, "-m", "nmt.train", str(tokenize_dir), str(tmp_path / "ddp"), "--config", str(cfg_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["world_size"] == 2
    assert summary["target_tokens"] == single["target_tokens"]
    run_train(tokenize_dir, base.model_copy(update={"max_steps": 0}), tmp_path / "zero")
    a = model_tensors(tmp_path / "one" / "checkpoints" / "last.pt")
    b = model_tensors(tmp_path / "ddp" / "checkpoints" / "last.pt")
    before = model_tensors(tmp_path / "zero" / "checkpoints" / "last.pt")
    assert not all(torch.equal(a[name], before[name]) for name in a)  # the step moved them
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)


def test_warmup_plateau_decay_and_adadelta(tokenize_dir, tmp_path):
    cfg = config(
        optimizer="adadelta",
        max_steps=20,
        valid_every=5,
        warmup_steps=10,
        lr=1e-9,
        decay_patience=1,
        decay_factor=0.5,
        best_metric="loss",
    )
    run_train(tokenize_dir, cfg, tmp_path)
    rows = metrics(tmp_path)
    assert rows[0]["lr"] == pytest.approx(1e-9 * 6 / 10)  # warm-up: step 5 sets the rate of step 6
    assert rows[-1]["lr"] < 1e-9  # no progress at lr 1e-9: the plateau decay halved it


def test_on_validation_receives_every_metrics_record(tokenize_dir, tmp_path):
    seen: list[dict] = []
    run_train(tokenize_dir, config(max_steps=50, valid_every=20), tmp_path / "cb", seen.append)
    assert [r["step"] for r in seen] == [20, 40, 50]
    assert seen == metrics(tmp_path / "cb")


def test_subword_sampling_reads_a_sampled_copy_per_epoch(tmp_path):
    from nmt.model.batching import TokenData, make_batch
    from nmt.train.distributed import Distributed
    from nmt.train.loop import Loop
    from nmt.train.trainer import Trainer

    tok_dir = make_tokenize_dir(tmp_path / "tok", n_train=60, n_valid=5)
    with pytest.raises(FileNotFoundError, match="sampled"):
        run_train(tok_dir, config(max_steps=1, subword_sampling=True), tmp_path / "none")
    tok = Tokenizer.load(tok_dir)
    ids = pa.array(TokenData.read(tok_dir / "train.parquet").ids)
    splits = generate_splits(0, {"valid": 5, "train": 60})["train"]
    for k in range(2):
        s = tok.encode_src([p.src for p in splits], sample=True, alpha=0.1)
        t = tok.encode_tgt([p.tgt for p in splits], sample=True, alpha=0.1)
        table = pa.table(
            {
                "id": ids,
                "src_ids": s,
                "tgt_ids": t,
                "src_len": [len(x) for x in s],
                "tgt_len": [len(x) for x in t],
            },
            schema=TOKENS,
        )
        write_parquet(tok_dir / "sampled" / f"train-{k}.parquet", table)
    cfg = config(max_epochs=2, valid_every=1000, subword_sampling=True)
    trainer = Trainer(tok_dir, cfg, Distributed(), tmp_path / "out" / "tokens")
    assert Loop(trainer, tmp_path / "out").run()["epochs"] == 2
    stream = trainer.stream
    assert stream.epoch == 1 and trainer.train_data is stream.data_of(1)  # the copy it trained on
    differs = 0
    for i in range(60):
        a = make_batch(stream.data_of(0), [i])
        b = make_batch(stream.data_of(1), [i])
        differs += a.src.shape != b.src.shape or not torch.equal(a.src, b.src)
    assert differs > 0
    # Training runs through epochs 0-2 (copies 0, 1, 0); then a missing copy is named.
    cfg = config(max_epochs=3, valid_every=1000, subword_sampling=True)
    summary = run_train(tok_dir, cfg, tmp_path / "run")
    assert summary["epochs"] == 3
    # Resume stays exact across epochs (and so across copies).
    n = len(stream.plan(0))  # steps of epoch 0
    cut, end = (config(max_steps=m, valid_every=1000, subword_sampling=True) for m in (n - 2, n + 3))
    assert run_train(tok_dir, end, tmp_path / "whole")["epochs"] == 1
    run_train(tok_dir, cut, tmp_path / "cut")
    run_train(tok_dir, end, tmp_path / "cut")
    a = model_tensors(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = model_tensors(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    (tok_dir / "sampled" / "train-0.parquet").unlink()  # no manifest: K = highest copy + 1
    with pytest.raises(FileNotFoundError, match=str(tok_dir / "sampled")):
        run_train(tok_dir, cfg, tmp_path / "other")


def test_device_accepts_what_resolve_device_accepts():
    from nmt.train.distributed import Distributed, process_group

    assert config(device="cuda:1").device == "cuda:1"
    assert config(device="cpu").device == "cpu"
    with pytest.raises(ValueError, match="'gpu0' is not a torch device"):
        config(device="gpu0")
    one_gpu = pytest.raises(ValueError, match="names one GPU; under torchrun use 'cuda'")
    with one_gpu, process_group(Distributed(rank=0, world=2), "cuda:1"):
        pass


def test_token_cache_maps_the_parquet_rows_and_follows_changes(tokenize_dir, tmp_path):
    import shutil

    import numpy as np
    import pyarrow.parquet as pq

    from nmt.model.batching import TokenData
    from nmt.train.data import FileValues, build_cache, open_cache

    tok = tmp_path / "tok"
    shutil.copytree(tokenize_dir, tok)
    folder = tmp_path / "cache" / "train"
    assert build_cache(tok, "train", folder, batch_rows=7)  # 43 record batches, offsets rebased
    data, whole = open_cache(folder), TokenData.read(tok / "train.parquet")
    for name in ("ids", "src_values", "src_offsets", "tgt_values", "tgt_offsets"):
        assert np.array_equal(getattr(data, name), getattr(whole, name)), name
    assert isinstance(data.src_offsets.base, np.memmap)  # mapped from the file, not read in
    assert isinstance(data.src_values, FileValues)  # rows read on demand, never mapped
    assert np.array_equal(data.tgt(5), whole.tgt(5)) and len(data.src_values) == len(whole.src_values)
    assert not build_cache(tok, "train", folder)  # current: kept
    for rows in (10, 0):
        write_parquet(tok / "train.parquet", pq.read_table(tok / "train.parquet").slice(0, rows))
        assert build_cache(tok, "train", folder)
        data = open_cache(folder)
        assert len(data) == rows and np.array_equal(data.src_offsets, whole.src_offsets[: rows + 1])
        assert np.array_equal(data.src_values, whole.src_values[: whole.src_offsets[rows]])
