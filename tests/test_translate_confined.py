"""Hostile inputs: a link to the system password file in the input folder is recorded, never read."""

from pathlib import Path

import pyarrow.parquet as pq
from test_translate import FAST, write_docs
from translate_fixtures import make_translator

from nmt.translate.config import TranslateConfig
from nmt.translate.job import translate_job


def test_a_link_outside_the_input_folder_is_recorded_and_the_good_inputs_translated(tmp_path: Path):
    inputs = write_docs(tmp_path / "in")  # 3 documents of 9 sentences
    (inputs / "passwd.txt").symlink_to("/etc/passwd")
    out = tmp_path / "out"
    summary = translate_job([inputs], make_translator(), TranslateConfig(**FAST), out)
    assert summary["errors_by_reason"] == {"link_outside": 1}
    assert summary["sentences"] == 27
    errors = pq.read_table(out / "errors.parquet").to_pylist()
    assert [(e["doc_id"], e["reason"]) for e in errors] == [("passwd.txt", "link_outside")]
    assert not (out / "docs" / "passwd.txt").exists()
    docs = pq.read_table(out / "translations.parquet").column("doc_id").to_pylist()
    assert sorted(set(docs)) == ["doc0.txt", "doc2.txt", "sub/doc1.txt"]
    assert "root:" not in "".join(pq.read_table(out / "translations.parquet").column("source").to_pylist())
