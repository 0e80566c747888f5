"""Train sentencepiece models from the train split of a pairs table, seeded and reproducible.

Training uses no random numbers beyond this module's seeded input sampling (sentencepiece's own
shuffling is off), so the process-wide sentencepiece seed is never set here: setting it would
make every later on-the-fly sampled encoding in the process repeat the same draws.

Input sampling is done here, not inside sentencepiece: when a model would see more than
`input_sentence_size` sentences, a seeded numpy generator picks which ones (or, without
shuffling, the first ones in line order). The chosen sentences are streamed from the pairs table
into a temporary text file, one per line, and go from there to sentencepiece in table order
through `sentence_iterator`, so Python never holds them and the model bytes depend on the data
and the settings only (no file paths are embedded in the model). sentencepiece itself keeps
what it trains on in memory (about 20 bytes per character for unigram), which is why the sample
is bounded.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
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


def _chosen(rows: int, columns: int, limit: int, seed: int, shuffle: bool) -> np.ndarray | None:
    """Which of `rows * columns` sentences to train on (None: all); column k is [k * rows, (k + 1) * rows)."""
    total = rows * columns
    if not 0 < limit < total:
        return None
    if not shuffle:  # the first `limit` in line order: src 0, tgt 0, src 1, tgt 1, ...
        order = np.arange(rows)[None, :] * columns + np.arange(columns)[:, None]  # [columns, rows]
        return (order < limit).reshape(-1)
    keep = np.zeros(total, dtype=bool)
    keep[np.random.default_rng(seed).choice(total, size=limit, replace=False)] = True
    return keep


def write_sentences(
    pairs: pq.ParquetFile,
    columns: list[str],
    split: str,
    limit: int,
    seed: int,
    shuffle: bool,
    path: Path,
) -> int:
    """Write the non-empty sentences of `columns` in `split` to `path`, one per line; return how many.

    At most `limit` (0 = all) are written: chosen by `seed` when `shuffle`, else the first ones.
    """
    rows = count_rows(pairs, split)
    keep = _chosen(rows, len(columns), limit, seed, shuffle)
    written = seen = 0
    with open(path, "w", encoding="utf-8") as out:
        for batch in pairs.iter_batches(batch_size=READ_BATCH_ROWS, columns=["split", *columns]):
            rows_of_split = batch.filter(pc.equal(batch.column("split"), split))
            n = rows_of_split.num_rows
            for k, name in enumerate(columns):
                texts = rows_of_split.column(name)
                if keep is not None:
                    texts = texts.filter(pa.array(keep[k * rows + seen : k * rows + seen + n]))
                lines = [t.replace("\n", " ") for t in texts.to_pylist() if t]
                out.write("".join(f"{t}\n" for t in lines))
                written += len(lines)
            seen += n
    return written


def train_model(path: Path, args: dict[str, Any]) -> bytes:
    """Train one sentencepiece model on the sentences of `path` (one a line); the serialized model."""
    buf = io.BytesIO()
    started = time.perf_counter()
    with open(path, encoding="utf-8") as lines:
        sentences = (line.removesuffix("\n") for line in lines)
        spm.SentencePieceTrainer.train(sentence_iterator=sentences, model_writer=buf, **args)
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
