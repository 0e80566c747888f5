"""The translate job's Parquet tables read as written by DuckDB and Polars."""

import duckdb
import polars as pl
import pytest
from test_translate import FAST, write_docs
from translate_fixtures import make_translator

from nmt.translate.config import TranslateConfig
from nmt.translate.job import translate_job


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A small translate job (3 documents of 3 paragraphs of 3 sentences, beam 2)."""
    root = tmp_path_factory.mktemp("readers")
    cfg = TranslateConfig(**{**FAST, "beam": 2}, job_id="job")
    summary = translate_job([write_docs(root / "in")], make_translator(), cfg, root / "out")
    assert summary["sentences"] == 27
    return root / "out"


def column_types(relation: str) -> dict[str, str]:
    """DuckDB's column name -> type of a relation."""
    return {row[0]: row[1] for row in duckdb.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def test_polars_reads_translations_and_alignments(job):
    translations = pl.read_parquet(job / "translations.parquet")
    alignments = pl.read_parquet(job / "alignments.parquet")
    assert translations.height == alignments.height == 27
    assert translations.schema["paragraph"] == pl.Int32
    assert translations.schema["score"] == pl.Float32
    assert translations.schema["translation"] == pl.String
    assert alignments.schema["attention"] == pl.List(pl.Float32)
    assert alignments.schema["src_tokens"] == pl.List(pl.String)
    assert alignments.schema["tgt_len"] == pl.Int32
    row = alignments.row(0, named=True)
    assert len(row["attention"]) == row["tgt_len"] * row["src_len"]
    shapes = alignments.select(pl.col("attention").list.len() == pl.col("tgt_len") * pl.col("src_len"))
    assert shapes.to_series().all()


def test_duckdb_reads_translations_and_alignments(job):
    translations = f"read_parquet('{job / 'translations.parquet'}')"
    alignments = f"read_parquet('{job / 'alignments.parquet'}')"
    assert duckdb.sql(f"SELECT count(*) FROM {translations}").fetchall() == [(27,)]
    types = column_types(alignments)
    assert types["attention"] == "FLOAT[]"
    assert types["src_len"] == types["paragraph"] == "INTEGER"
    assert types["word_links"] == "VARCHAR"
    assert column_types(translations)["score"] == "FLOAT"
    first = f"SELECT len(attention), tgt_len * src_len FROM {alignments} LIMIT 1"
    [(length, shape)] = duckdb.sql(first).fetchall()
    assert length == shape
    shapes = f"SELECT count(*) FROM {alignments} WHERE len(attention) = tgt_len * src_len"
    assert duckdb.sql(shapes).fetchall() == [(27,)]
