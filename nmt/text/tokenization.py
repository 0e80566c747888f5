"""Tokenize stage: train sentencepiece on the train split, encode every split into TOKENS Parquet.

Files under `out_dir` (see nmt/core/rundir.py):

    spm.model, spm.vocab          joint source+target model (default, `joint=True`)
    src.model/.vocab, tgt.*       one model per language (`joint=False`)
    <split>.parquet               TOKENS for every split of the pairs table, row groups of
                                  `row_group_rows` rows (the shard unit; see nmt/text/token_shards.py)
    sampled/train-<k>.parquet     optional subword-sampled encodings of the train split
    manifest.json                 settings, model sha256, counts, length statistics; written last,
                                  it marks the stage complete

Ids exclude BOS/EOS; PAD/UNK/BOS/EOS are the ids of nmt/core/vocab.py in every model.
Read a split with `read_tokens(dir, split)` or stream it with `iter_tokens(dir, split)`.

Idempotent: the manifest holds a fingerprint of the pairs file's sha256, the settings, the
resolved thread count (sentencepiece stores it in the model) and the library/format versions;
a rerun with the same fingerprint whose files are intact does no work and returns the stored
summary with `skipped: True`. Outputs of other settings (splits, models) are removed.

Normalization (`normalization`, default "nmt_nfkc", sentencepiece's default): NFKC plus
whitespace clean-up. It folds compatibility characters (full-width letters, ligatures), composes
combining marks, maps U+00A0 and U+202F (French typography before ? ! : ;) to a plain space, and
collapses runs of spaces. Decoding returns this normalized text, not the raw input: a French
translation has plain spaces where the reference may have no-break spaces. Scoring is not
affected, since BLEU tokenization splits on every Unicode space and chrF drops whitespace.
Choose "identity" to keep the text as is (only runs of ASCII spaces are still collapsed).

Subword regularization (optional): `sampled_copies` > 0 also writes that many encodings of the
train split drawn with `sampling_alpha`/`sampling_nbest` (unigram: sampling from the lattice,
alpha sharpens the distribution, small alpha = more variety; BPE: BPE-dropout with probability
alpha). Training with `TrainConfig(subword_sampling=True)` (nmt.train) reads copy
`epoch % sampled_copies` instead of train.parquet in each epoch; valid.parquet keeps the best
segmentation. So: tokenize with `sampled_copies=K`, then train with `subword_sampling=True`.
The draws are random, not reproducible (see nmt.text.token_shards.Sampling); a rerun with the same
settings skips the stage and so keeps the copies. `Tokenizer.encode_src(texts, sample=True)` samples
on the fly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
import sentencepiece as spm
from pydantic import BaseModel, ConfigDict, Field

from nmt.core import vocab
from nmt.core.atomic import file_sha256, read_json, remove_temporaries, write_bytes, write_json, write_text
from nmt.core.cores import usable_cores
from nmt.core.lock import locks_folder
from nmt.core.schema import SCHEMA_VERSION
from nmt.text import spm_training
from nmt.text.token_shards import Sampling, write_token_shards

log = logging.getLogger(__name__)

STAGE_VERSION = "1"
JOINT_MODEL = "spm"
SRC_MODEL = "src"
TGT_MODEL = "tgt"
SAMPLED_DIR = "sampled"
SCRATCH = ".spm-input-"  # sentencepiece's training text, in a folder a killed run leaves behind


class TokenizeConfig(BaseModel):
    """Settings of the tokenize stage; every field is recorded in the manifest."""

    model_config = ConfigDict(extra="forbid")

    model_type: Literal["unigram", "bpe"] = "unigram"
    joint: bool = Field(True, description="one model for both sides, else src.model + tgt.model")
    vocab_size: int = Field(8000, gt=4, description="pieces per model (a soft limit)")
    character_coverage: float = Field(0.9995, gt=0.0, le=1.0)
    byte_fallback: bool = Field(True, description="rare characters become UTF-8 byte pieces")
    user_defined_symbols: list[str] = Field(default_factory=list)
    normalization: Literal["nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "identity"] = "nmt_nfkc"
    max_sentence_length: int = Field(4192, gt=0, description="longer sentences are not trained on (bytes)")
    input_sentence_size: int = Field(
        400_000,
        ge=0,
        description="sentences per model trained on; 0 = all (sentencepiece holds them: "
        "about 2 GB at 400k sentences of 35 words)",
    )
    shuffle_input_sentence: bool = Field(
        True, description="sample input_sentence_size sentences by `seed`; else take the first ones"
    )
    seed: int = Field(0, description="seed of the training-input sampling (input_sentence_size)")
    length_limit: int = Field(100, gt=0, description="training length limit reported on (pieces)")
    row_group_rows: int = Field(65536, gt=0, description="rows per Parquet row group (the shard)")
    threads: int = Field(
        0, ge=0, description="encoder/trainer threads; 0 = all cores (stored in the model bytes)"
    )
    sampled_copies: int = Field(0, ge=0, description="subword-sampled copies of the train split")
    sampling_alpha: float = Field(0.1, gt=0.0, description="unigram smoothing or BPE-dropout rate")
    sampling_nbest: int = Field(-1, description="unigram n-best to sample from; -1 = all")


@locks_folder("tokenize", wait=True)
def run_tokenize(pairs_path: Path, cfg: TokenizeConfig, out_dir: Path, cluster: str | None = None) -> dict:
    """Train the sentencepiece model(s), encode every split, write the manifest; return a summary.

    Given `cluster` (a Dask scheduler address), the encoding runs in chunks on its workers; the
    files are the same bytes as a local run's.
    """
    started = time.perf_counter()
    pairs_path, out_dir = Path(pairs_path), Path(out_dir)
    pairs_sha256 = file_sha256(pairs_path)
    fingerprint = _fingerprint(pairs_sha256, cfg)
    if out_dir.is_dir():  # a killed run's temporaries: this process holds the folder now
        remove_temporaries(out_dir)
        for scratch in out_dir.glob(f"{SCRATCH}*"):
            shutil.rmtree(scratch, ignore_errors=True)
    done = _completed(out_dir, fingerprint)
    if done is not None:
        log.info("tokenize: %s is up to date, nothing to do", out_dir)
        return {**done["summary"], "skipped": True}

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)
    threads = cfg.threads or usable_cores()
    pairs = pq.ParquetFile(pairs_path)
    args = spm_training.trainer_args(
        model_type=cfg.model_type,
        vocab_size=cfg.vocab_size,
        character_coverage=cfg.character_coverage,
        byte_fallback=cfg.byte_fallback,
        user_defined_symbols=cfg.user_defined_symbols,
        normalization=cfg.normalization,
        max_sentence_length=cfg.max_sentence_length,
        threads=threads,
    )
    sides = {JOINT_MODEL: ["src", "tgt"]} if cfg.joint else {SRC_MODEL: ["src"], TGT_MODEL: ["tgt"]}
    written: list[str] = []
    models: dict[str, dict] = {}
    train_seconds = 0.0
    spm_sentences: dict[str, int] = {}
    for name, columns in sides.items():
        with tempfile.TemporaryDirectory(prefix=SCRATCH, dir=out_dir) as scratch:
            path = Path(scratch) / "sentences.txt"
            count = spm_training.write_sentences(
                pairs, columns, "train", cfg.input_sentence_size, cfg.seed, cfg.shuffle_input_sentence, path
            )
            if not count:
                raise ValueError(f"{pairs_path} has no non-empty train sentences to train on")
            log.info("training %s model on %d sentences", name, count)
            started_training = time.perf_counter()
            model = spm_training.train_model(path, args)
            train_seconds += time.perf_counter() - started_training
        spm_sentences[name] = count
        write_bytes(out_dir / f"{name}.model", model)
        write_text(out_dir / f"{name}.vocab", spm_training.vocab_text(model))
        written += [f"{name}.model", f"{name}.vocab"]
        models[name] = {
            "file": f"{name}.model",
            "sha256": hashlib.sha256(model).hexdigest(),
            "vocab_size": spm.SentencePieceProcessor(model_proto=model).vocab_size(),
        }

    encode_started = time.perf_counter()
    tok = Tokenizer.load(out_dir)
    metadata = _schema_metadata(tok, models)
    shards = dict(
        metadata=metadata,
        row_group_rows=cfg.row_group_rows,
        threads=threads,
        length_limit=cfg.length_limit,
        cluster=cluster,
    )
    splits = write_token_shards(
        pairs_path, out_dir, (tok.src, tok.tgt), file_name=lambda s: f"{s}.parquet", **shards
    )
    written += [f"{s}.parquet" for s in splits]
    encode_seconds = time.perf_counter() - encode_started
    sampled = _write_sampled_copies(pairs_path, out_dir, cfg, shards)
    written += [f"{SAMPLED_DIR}/{name}.parquet" for name in sampled]
    _remove_stale(out_dir, set(written))

    seconds = time.perf_counter() - started
    rows = sum(s["rows"] for s in splits.values())
    summary = {
        "stage": "tokenize",
        "skipped": False,
        "tokenizer_sha256": tok.sha256,
        "joint": cfg.joint,
        "model_type": cfg.model_type,
        "src_vocab_size": tok.src_vocab_size,
        "tgt_vocab_size": tok.tgt_vocab_size,
        "models": models,
        "rows": {s: v["rows"] for s, v in splits.items()},
        "splits": splits,
        "length_limit": cfg.length_limit,
        "over_limit": {s: v["over_limit"] for s, v in splits.items()},
        "sampled": sampled,
        "files": sorted(written),
        "seconds": round(seconds, 3),
        "spm_sentences": spm_sentences,
        "train_seconds": round(train_seconds, 3),
        "encode_seconds": round(encode_seconds, 3),
        "pairs_per_s": round(rows / seconds, 1) if seconds else None,
    }
    write_json(
        out_dir / "manifest.json",
        {
            "fingerprint": fingerprint,
            "settings": cfg.model_dump(),
            "threads": threads,
            "input": {"path": str(pairs_path), "sha256": pairs_sha256},
            "versions": {"sentencepiece": spm.__version__, "pyarrow": pa.__version__},
            "special_ids": vocab.SPECIAL_IDS,
            "summary": summary,
        },
    )
    log.info("tokenize: %d pairs in %.1f s -> %s", rows, seconds, out_dir)
    return summary


class Tokenizer:
    """The source and target sentencepiece models of a tokenize directory (the same when joint)."""

    def __init__(self, src: spm.SentencePieceProcessor, tgt: spm.SentencePieceProcessor, sha256: str):
        for sp in (src, tgt):
            got = {"pad_id": sp.pad_id(), "unk_id": sp.unk_id(), "bos_id": sp.bos_id(), "eos_id": sp.eos_id()}
            if got != vocab.SPECIAL_IDS:
                raise ValueError(f"model special ids {got} differ from nmt.core.vocab {vocab.SPECIAL_IDS}")
        self.src, self.tgt, self.sha256 = src, tgt, sha256

    @classmethod
    def load(cls, tokenize_dir: Path) -> Tokenizer:
        """Load `spm.model`, or `src.model` and `tgt.model`, from a tokenize directory."""
        tokenize_dir = Path(tokenize_dir)
        joint = tokenize_dir / f"{JOINT_MODEL}.model"
        if joint.exists():
            data = joint.read_bytes()
            sp = spm.SentencePieceProcessor(model_proto=data)
            return cls(sp, sp, hashlib.sha256(data).hexdigest())
        src = (tokenize_dir / f"{SRC_MODEL}.model").read_bytes()
        tgt = (tokenize_dir / f"{TGT_MODEL}.model").read_bytes()
        digest = hashlib.sha256()
        for data in (src, tgt):
            digest.update(hashlib.sha256(data).digest())
        return cls(
            spm.SentencePieceProcessor(model_proto=src),
            spm.SentencePieceProcessor(model_proto=tgt),
            digest.hexdigest(),
        )

    @property
    def joint(self) -> bool:
        return self.src is self.tgt

    @property
    def src_vocab_size(self) -> int:
        return self.src.vocab_size()

    @property
    def tgt_vocab_size(self) -> int:
        return self.tgt.vocab_size()

    def encode_src(
        self, texts: list[str], sample: bool = False, alpha: float = 0.1, nbest_size: int = -1
    ) -> list[list[int]]:
        """Source ids without BOS/EOS; `sample=True` draws a segmentation (subword regularization)."""
        return _encode(self.src, texts, sample, alpha, nbest_size)

    def encode_tgt(
        self, texts: list[str], sample: bool = False, alpha: float = 0.1, nbest_size: int = -1
    ) -> list[list[int]]:
        """Target ids without BOS/EOS; `sample=True` draws a segmentation (subword regularization)."""
        return _encode(self.tgt, texts, sample, alpha, nbest_size)

    def decode_tgt(self, ids: list[list[int]]) -> list[str]:
        """Target text of id sequences; PAD/BOS/EOS ids are skipped."""
        return self.tgt.decode(ids)

    def src_pieces(self, ids: list[int]) -> list[str]:
        """Source pieces of one id sequence (for attention plots and alignments)."""
        return self.src.id_to_piece(list(ids))

    def tgt_pieces(self, ids: list[int]) -> list[str]:
        """Target pieces of one id sequence."""
        return self.tgt.id_to_piece(list(ids))


def _encode(sp, texts, sample, alpha, nbest_size) -> list[list[int]]:
    threads = usable_cores()
    if not sample:
        return sp.encode(list(texts), num_threads=threads)
    return sp.encode(
        list(texts), enable_sampling=True, alpha=alpha, nbest_size=nbest_size, num_threads=threads
    )


def read_tokens(tokenize_dir: Path, split: str, columns: list[str] | None = None) -> pa.Table:
    """The TOKENS table of one split (all of its row groups)."""
    return pq.read_table(Path(tokenize_dir) / f"{split}.parquet", columns=columns)


def iter_tokens(tokenize_dir: Path, split: str, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
    """Stream the TOKENS rows of one split in record batches, in stored order."""
    yield from pq.ParquetFile(Path(tokenize_dir) / f"{split}.parquet").iter_batches(batch_size=batch_rows)


def _write_sampled_copies(pairs_path: Path, out_dir: Path, cfg: TokenizeConfig, shards: dict) -> dict:
    """Write the subword-sampled train copies; per-copy length statistics."""
    tok = Tokenizer.load(out_dir)
    sampling = Sampling(cfg.sampling_alpha, cfg.sampling_nbest)
    copies = {}
    for k in range(cfg.sampled_copies):
        copies[f"train-{k}"] = write_token_shards(
            pairs_path,
            out_dir,
            (tok.src, tok.tgt),
            file_name=lambda _split, k=k: f"{SAMPLED_DIR}/train-{k}.parquet",
            splits={"train"},
            sampling=sampling,
            **{**shards, "metadata": {**shards["metadata"], "nmt.tokenizer.sampled_copy": str(k)}},
        )["train"]
    return copies


def _schema_metadata(tok: Tokenizer, models: dict[str, dict]) -> dict[str, str]:
    meta = {
        "nmt.tokenizer.sha256": tok.sha256,
        "nmt.tokenizer.joint": json.dumps(tok.joint),
        "nmt.tokenizer.src_vocab_size": str(tok.src_vocab_size),
        "nmt.tokenizer.tgt_vocab_size": str(tok.tgt_vocab_size),
        "nmt.tokenizer.special_ids": json.dumps(vocab.SPECIAL_IDS),
    }
    meta.update({f"nmt.tokenizer.{name}_sha256": m["sha256"] for name, m in models.items()})
    return meta


def _fingerprint(pairs_sha256: str, cfg: TokenizeConfig) -> str:
    """What the outputs depend on: input bytes, settings, library and format versions."""
    key = {
        "input": pairs_sha256,
        "settings": cfg.model_dump(),
        "threads": cfg.threads or usable_cores(),
        "sentencepiece": spm.__version__,
        "schema": SCHEMA_VERSION,
        "stage": STAGE_VERSION,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _completed(out_dir: Path, fingerprint: str) -> dict | None:
    """The manifest of a finished run with the same fingerprint whose files are all intact."""
    path = out_dir / "manifest.json"
    if not path.exists():
        return None
    manifest = read_json(path)
    if manifest.get("fingerprint") != fingerprint:
        return None
    summary = manifest["summary"]
    if not all((out_dir / f).exists() for f in summary["files"]):
        return None
    for m in summary["models"].values():
        if file_sha256(out_dir / m["file"]) != m["sha256"]:
            return None
    return manifest


def _remove_stale(out_dir: Path, keep: set[str]) -> None:
    """Delete outputs of an earlier run with other settings (other splits, models, copies)."""
    candidates = [*out_dir.glob("*.parquet"), *out_dir.glob(f"{SAMPLED_DIR}/*.parquet")]
    candidates += [
        out_dir / f"{n}.{ext}" for n in (JOINT_MODEL, SRC_MODEL, TGT_MODEL) for ext in ("model", "vocab")
    ]
    for path in candidates:
        if path.exists() and path.relative_to(out_dir).as_posix() not in keep:
            path.unlink()
