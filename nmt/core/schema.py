"""Arrow schemas of every table the pipeline writes: the contract between stages.

Each schema carries `nmt.schema_version` in its metadata. Tables are written as zstd
Parquet through `nmt.core.atomic.write_parquet`, so DuckDB, Polars and pandas read them as is.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"


def _schema(fields: list[pa.Field], kind: str) -> pa.Schema:
    return pa.schema(fields, metadata={"nmt.schema_version": SCHEMA_VERSION, "nmt.table": kind})


# acquire: one row per kept sentence pair.
PAIRS = _schema(
    [
        pa.field("id", pa.int64(), nullable=False),  # unique within the corpus, stable across reruns
        pa.field("split", pa.string(), nullable=False),  # train / valid / test / extra test set names
        pa.field("src", pa.string(), nullable=False),
        pa.field("tgt", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),  # "<file>:<line>" the pair was read from
    ],
    "pairs",
)

# acquire: one row per input line or record that was dropped, with the reason.
REJECTS = _schema(
    [
        pa.field("origin", pa.string(), nullable=False),  # file the record came from
        pa.field("line", pa.int64(), nullable=False),  # 1-based line (or record) number
        pa.field("reason", pa.string(), nullable=False),  # short machine-readable reason
        pa.field("detail", pa.string()),  # human-readable explanation
        pa.field("raw", pa.string()),  # the raw text, invalid bytes escaped
    ],
    "rejects",
)

# tokenize: one row per pair of a split; ids exclude BOS/EOS (see nmt.core.vocab).
TOKENS = _schema(
    [
        pa.field("id", pa.int64(), nullable=False),  # the pair id from PAIRS
        pa.field("src_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("tgt_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("src_len", pa.int16(), nullable=False),
        pa.field("tgt_len", pa.int16(), nullable=False),
    ],
    "tokens",
)

# align: the statistical aligner's links of every pair of a split (nmt.align.corpus). Links are
# Pharaoh "i-j" text, sorted, 0-based over the pair's words (nmt.align.words), source index first.
ALIGN_LINKS = _schema(
    [
        pa.field("id", pa.int64(), nullable=False),  # the pair id from PAIRS
        pa.field("src_words", pa.int32(), nullable=False),  # number of source words
        pa.field("tgt_words", pa.int32(), nullable=False),  # number of target words
        pa.field("forward", pa.string(), nullable=False),  # the source->target model's links
        pa.field("reverse", pa.string(), nullable=False),  # the target->source model's links
        pa.field("intersection", pa.string(), nullable=False),  # links both directions agree on
        pa.field("grow_diag", pa.string(), nullable=False),  # the intersection grown into neighbours
        pa.field("grow_diag_final_and", pa.string(), nullable=False),  # + links of two unaligned words
    ],
    "align_links",
)

# align: the pieces of every aligner word of a pair (nmt.align.pieces), for guided alignment.
# Per side the flat ranges [first_0, end_0, first_1, end_1, ...]: word w of the side (its index
# in the links above) is made of pieces first_w .. end_w - 1 of the pair's TOKENS row; empty
# lists where the pieces could not be matched to that row (no guidance for the pair).
ALIGN_PIECES = _schema(
    [
        pa.field("id", pa.int64(), nullable=False),  # the pair id from PAIRS
        pa.field("src_pieces", pa.list_(pa.int16()), nullable=False),  # [2 x source words]
        pa.field("tgt_pieces", pa.list_(pa.int16()), nullable=False),  # [2 x target words]
    ],
    "align_pieces",
)

# translate: one row per input sentence of a job.
TRANSLATIONS = _schema(
    [
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),  # input document (path relative to the job input)
        pa.field("paragraph", pa.int32(), nullable=False),  # 0-based paragraph in the document
        pa.field("sentence", pa.int32(), nullable=False),  # 0-based sentence in the paragraph
        pa.field("source", pa.string(), nullable=False),
        pa.field("translation", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),  # log-probability of the hypothesis
        pa.field("model_id", pa.string(), nullable=False),
    ],
    "translations",
)

# translate: the attention of every translated sentence, same keys as TRANSLATIONS.
ALIGNMENTS = _schema(
    [
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("paragraph", pa.int32(), nullable=False),
        pa.field("sentence", pa.int32(), nullable=False),
        pa.field("src_tokens", pa.list_(pa.string()), nullable=False),  # pieces + "</s>"
        pa.field("tgt_tokens", pa.list_(pa.string()), nullable=False),  # pieces + "</s>"
        pa.field("src_len", pa.int32(), nullable=False),  # len(src_tokens)
        pa.field("tgt_len", pa.int32(), nullable=False),  # len(tgt_tokens)
        # Row-major [tgt_len x src_len] attention; each row sums to 1.
        pa.field("attention", pa.list_(pa.float32()), nullable=False),
        pa.field("subword_links", pa.string(), nullable=False),  # Pharaoh "i-j", 0-based, src-tgt
        pa.field("word_links", pa.string(), nullable=False),  # the same merged to words
        # The statistical aligner's words (nmt.align.words) of the source and the translation, and
        # its links between them (the run's priors, intersection; Pharaoh "i-j", 0-based over these
        # words); null where the run has no aligner (no align stage, or eflomal not installed).
        pa.field("src_words", pa.list_(pa.string()), nullable=False),
        pa.field("tgt_words", pa.list_(pa.string()), nullable=False),
        pa.field("statistical_links", pa.string()),
        # The model's alignment head (model.align_head: scored once the output word is known, trained
        # on the statistical links): its argmax links over the same words as word_links; null where
        # the model has no head.
        pa.field("head_links", pa.string()),
    ],
    "alignments",
)

# translate: one row per input that could not be translated.
ERRORS = _schema(
    [
        pa.field("job_id", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("line", pa.int64()),  # 1-based line where it applies
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
    ],
    "errors",
)

# evaluate: one row per model, test set, decoding setting and metric; appended across runs.
METRICS = _schema(
    [
        pa.field("model_id", pa.string(), nullable=False),  # "<run>/<checkpoint>@<sha256 prefix>"
        pa.field("run", pa.string(), nullable=False),  # run directory
        pa.field("pair", pa.string(), nullable=False),  # "<src>-<tgt>"
        pa.field("test_set", pa.string(), nullable=False),  # split of the pairs table
        pa.field("decoding", pa.string(), nullable=False),  # "greedy" or "beam<k>"
        pa.field("metric", pa.string(), nullable=False),  # BLEU, chrF, TER
        pa.field("score", pa.float64(), nullable=False),
        pa.field("signature", pa.string(), nullable=False),  # sacrebleu's signature
        pa.field("sentences", pa.int64(), nullable=False),
        pa.field("evaluated_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ],
    "metrics",
)


# translate: the shared step's decodings (nmt.translate.tables), one row per sentence; a job's
# intermediate file, read back by its shards and removed when the job is finalized.
RESULTS = _schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("translation", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("src_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("tgt_ids", pa.list_(pa.int32()), nullable=False),
        # Row-major [len(tgt_ids)+1, len(src_ids)+1]: the shape follows from the ids.
        pa.field("attention", pa.list_(pa.float32()), nullable=False),
        pa.field(
            "nbest",
            pa.list_(pa.struct([("translation", pa.string()), ("logprob", pa.float64())])),
            nullable=False,
        ),
        pa.field("head", pa.list_(pa.float32())),  # the alignment head's, shaped as attention; or null
    ],
    "results",
)


def with_metadata(schema: pa.Schema, extra: dict[str, str]) -> pa.Schema:
    """Return `schema` with extra key/value pairs added to its metadata."""
    meta = dict(schema.metadata or {})
    meta.update({k.encode(): v.encode() for k, v in extra.items()})
    return schema.with_metadata(meta)
