"""Train sentencepiece models from the train split of a pairs table, seeded and reproducible.

Training uses no random numbers beyond this module's seeded input sampling (sentencepiece's own
shuffling is off), so the process-wide sentencepiece seed is never set here: setting it would
make every later on-the-fly sampled encoding in the process repeat the same draws.

Input sampling is done here, not inside sentencepiece: when a model would see more than
`input_sentence_size` sentences, a seeded numpy generator picks which ones, and only those are
held in memory. The chosen sentences go to sentencepiece in table order through
`sentence_iterator`, so the model bytes depend on the data and the settings only (no file
paths are embedded in the model).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sentencepiece as spm

from nmt.core import vocab

log = logging.getLogger(__name__)

READ_BATCH_ROWS = 65536


def count_rows(pairs: pq.ParquetFile, split: str) -> int:
    """Number of rows of `split` in the pairs table (reads the split column only)."""
    n = 0
    for batch in pairs.iter_batches(batch_size=READ_BATCH_ROWS, columns=["split"]):
        n += pc.sum(pc.equal(batch.column(0), split)).as_py() or 0
    return n


def sample_sentences(
    pairs: pq.ParquetFile, columns: list[str], split: str, limit: int, seed: int
) -> list[str]:
    """Non-empty sentences of `columns` in `split`, at most `limit` (0 = all) chosen by `seed`."""
    rows = count_rows(pairs, split)
    total = rows * len(columns)
    keep: np.ndarray | None = None
    if 0 < limit < total:
        chosen = np.random.default_rng(seed).choice(total, size=limit, replace=False)
        keep = np.zeros(total, dtype=bool)
        keep[chosen] = True
    out: list[str] = []
    seen = 0
    for batch in pairs.iter_batches(batch_size=READ_BATCH_ROWS, columns=["split", *columns]):
        rows_of_split = batch.filter(pc.equal(batch.column("split"), split))
        n = rows_of_split.num_rows
        for k, name in enumerate(columns):
            texts = rows_of_split.column(name)
            if keep is not None:
                # Column k of the table occupies index range [k * rows, (k + 1) * rows).
                texts = texts.filter(pa.array(keep[k * rows + seen : k * rows + seen + n]))
            out.extend(t for t in texts.to_pylist() if t)
        seen += n
    return out


def train_model(sentences: Iterable[str], args: dict[str, Any]) -> bytes:
    """Train one sentencepiece model on `sentences` and return the serialized model."""
    buf = io.BytesIO()
    started = time.perf_counter()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=buf, **args)
    log.info("trained sentencepiece model in %.1f s", time.perf_counter() - started)
    return buf.getvalue()


def trainer_args(
    *,
    model_type: str,
    vocab_size: int,
    character_coverage: float,
    byte_fallback: bool,
    user_defined_symbols: list[str],
    normalization: str,
    max_sentence_length: int,
    threads: int,
) -> dict[str, Any]:
    """Keyword arguments for SentencePieceTrainer.train with this project's special ids."""
    return {
        "model_type": model_type,
        "vocab_size": vocab_size,
        "hard_vocab_limit": False,
        "character_coverage": character_coverage,
        "byte_fallback": byte_fallback,
        "user_defined_symbols": list(user_defined_symbols),
        "normalization_rule_name": normalization,
        "max_sentence_length": max_sentence_length,
        "input_sentence_size": 0,
        "shuffle_input_sentence": False,
        "num_threads": threads,
        "minloglevel": 2,
        **vocab.SPECIAL_IDS,
        "pad_piece": vocab.PAD_PIECE,
        "unk_piece": vocab.UNK_PIECE,
        "bos_piece": vocab.BOS_PIECE,
        "eos_piece": vocab.EOS_PIECE,
    }


def vocab_text(model: bytes) -> str:
    """The model's pieces and scores as `piece<TAB>score` lines (the usual .vocab file)."""
    sp = spm.SentencePieceProcessor(model_proto=model)
    return "".join(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.vocab_size()))
