"""Translator batching and the translate job: documents, tables, errors, shards and reruns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from translate_fixtures import make_run_dir, make_translator, sentences

from nmt.align.words import words
from nmt.core.schema import ALIGNMENTS, ERRORS, TRANSLATIONS
from nmt.model.search import DecodeConfig
from nmt.translate.config import TranslateConfig
from nmt.translate.job import run_translate, translate_job
from nmt.translate.plan import job_fingerprint, plan_job
from nmt.translate.shard import translate_shard, translate_shared

FAST = {"beam": 1, "max_len_a": 1.0, "max_len_b": 2, "progress": False}


@pytest.fixture(scope="module")
def translator():
    return make_translator()


def write_docs(folder: Path, n_docs: int = 3, paragraphs: int = 3, per_paragraph: int = 3) -> Path:
    """Plain-text documents of random sentences, paragraphs separated by blank lines."""
    pool = iter(sentences(n_docs * paragraphs * per_paragraph, seed=7))
    for d in range(n_docs):
        paras = [" ".join(next(pool) for _ in range(per_paragraph)) for _ in range(paragraphs)]
        path = folder / ("sub" if d % 2 else "") / f"doc{d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    return folder


def write_repeats(folder: Path) -> list[str]:
    """Four documents and a two-record JSONL table whose sentences recur, in one shard and across shards
    (with shard_bytes=1 each document and each record is a shard); the pool of sentences a..g used."""
    a, b, c, d, e, f, g = pool = sentences(7, seed=21)
    assert len(set(pool)) == 7
    folder.mkdir(parents=True)
    docs = {"d0": f"{a} {b}\n\n{c} {a}", "d1": f"{b} {d}\n\n{e}", "d2": f"{f} {f} {a}\n\n{d}", "d3": c}
    for name, text in docs.items():
        (folder / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    records = [{"id": 0, "text": g}, {"id": 1, "text": f"{g} {e}"}]  # g: shared by a table cut in two
    (folder / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return pool


REPEATS = "abca bde ffad c g ge"  # write_repeats' sentences in input order, by letter; f is in one shard
REPEATS_SHARED = "badcge"  # the shared ones, in the order planning finds them in a second shard
REPEATS_CFG = TranslateConfig(**FAST, shard_bytes=1, job_id="job")


def by_letter(pool: list[str], letters: str) -> list[str]:
    return [pool[ord(x) - ord("a")] for x in letters if x != " "]


def spy_encoded(monkeypatch, translator) -> list[str]:
    """Every sentence the translator encodes (so decodes) from now until the test ends."""
    texts: list[str] = []
    encode = translator.tokenizer.encode_src
    monkeypatch.setattr(
        translator.tokenizer, "encode_src", lambda batch: texts.extend(batch) or encode(batch)
    )
    return texts


def test_translator_keeps_order_and_dedups(translator):
    src = sentences(12, seed=3)
    src = src + src[:4]
    calls = []
    encode = translator.tokenizer.encode_src
    translator.tokenizer.encode_src = lambda texts: calls.append(list(texts)) or encode(texts)
    try:
        out = translator.translate(src, DecodeConfig(beam=1, batch_tokens=40, max_len_a=1.0, max_len_b=2))
    finally:
        translator.tokenizer.encode_src = encode
    assert [r.source for r in out] == src
    assert len(calls) == 1 and len(calls[0]) == 12  # each distinct sentence once
    for a, b in zip(out[:4], out[12:], strict=True):
        assert a is b


def test_batch_budget_does_not_change_results(translator):
    src = sentences(10, seed=4)
    small = translator.translate(src, DecodeConfig(beam=1, batch_tokens=30, max_len_a=1.0, max_len_b=2))
    large = translator.translate(src, DecodeConfig(beam=1, batch_tokens=10_000, max_len_a=1.0, max_len_b=2))
    for a, b in zip(small, large, strict=True):
        assert a.tgt_ids == b.tgt_ids
        assert a.score == pytest.approx(b.score, abs=1e-4)
        assert a.attention.shape == (len(a.tgt_ids) + 1, len(a.src_ids) + 1)


def test_job_round_trip_and_tables(tmp_path, translator):
    inputs = write_docs(tmp_path / "in")
    out = tmp_path / "out"
    summary = translate_job([inputs], translator, TranslateConfig(**FAST), out)
    n_sent = 3 * 3 * 3
    assert summary["sentences"] == n_sent and summary["errors"] == 0 and summary["documents"] == 3
    for d in range(3):
        rel = ("sub/" if d % 2 else "") + f"doc{d}.txt"
        source = (inputs / rel).read_text(encoding="utf-8")
        translated = (out / "docs" / rel).read_text(encoding="utf-8")
        assert translated.count("\n\n") == source.count("\n\n") == 2  # paragraphs kept
        assert translated.endswith("\n") and not translated.endswith("\n\n")
    trans = pq.read_table(out / "translations.parquet")
    assert trans.schema.equals(TRANSLATIONS, check_metadata=False)
    assert trans.num_rows == n_sent
    keys = list(zip(*(trans[c].to_pylist() for c in ("doc_id", "paragraph", "sentence")), strict=True))
    assert len(set(keys)) == n_sent
    assert keys == sorted(keys, key=lambda k: (k[0].count("/"), k))  # folder order: doc0, doc2, sub/doc1
    align = pq.read_table(out / "alignments.parquet")
    assert align.schema.equals(ALIGNMENTS, check_metadata=False)
    assert align.num_rows == n_sent
    for row in align.slice(0, 5).to_pylist():
        att = np.array(row["attention"], dtype=np.float32).reshape(row["tgt_len"], row["src_len"])
        np.testing.assert_allclose(att.sum(axis=1), 1.0, atol=1e-5)
        assert row["src_tokens"][-1] == row["tgt_tokens"][-1] == "</s>"
        links = [tuple(map(int, x.split("-"))) for x in row["subword_links"].split()]
        assert len(links) == row["tgt_len"] - 1
        assert all(0 <= i < row["src_len"] - 1 and 0 <= j < row["tgt_len"] - 1 for i, j in links)
        assert row["statistical_links"] is None  # this translator's run has no aligner
        assert row["head_links"] is None  # nor its model an alignment head
    sources = dict(zip(keys, trans["source"].to_pylist(), strict=True))
    aligned = align.select(["doc_id", "paragraph", "sentence", "src_words"]).to_pylist()
    assert all(r["src_words"] == words(sources[tuple(list(r.values())[:3])]) for r in aligned)
    assert pq.read_table(out / "errors.parquet").num_rows == 0
    assert not (out / "shards").exists() and (out / "summary.json").exists()


def test_bad_inputs_are_reported_and_the_rest_translated(tmp_path, translator):
    inputs = write_docs(tmp_path / "in", n_docs=2)
    (inputs / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    (inputs / "latin1.txt").write_bytes("Ein Mann läuft.\n\nDie Straße.".encode("latin-1"))
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "blank.txt").write_text("  \n\n \n")
    (inputs / "notes.json").write_text("{}")
    (inputs / "long.txt").write_text("Ein Hund.\n\n" + "wort " * 200_000 + "\n\nEine Katze.\n")  # 1 MB line
    cfg = TranslateConfig(**FAST, max_sentence_chars=1000)
    summary = translate_job([inputs, tmp_path / "nope.txt"], translator, cfg, tmp_path / "out")
    errors = pq.read_table(tmp_path / "out" / "errors.parquet")
    assert errors.schema.equals(ERRORS, check_metadata=False)
    got = dict(zip(errors["doc_id"].to_pylist(), errors["reason"].to_pylist(), strict=True))
    assert got == {
        "binary.txt": "binary",
        "latin1.txt": "invalid_utf8",
        "empty.txt": "empty",
        "blank.txt": "empty",
        "notes.json": "unsupported_format",
        "long.txt": "sentence_too_long",
        "nope.txt": "missing",
    }
    lines = dict(zip(errors["doc_id"].to_pylist(), errors["line"].to_pylist(), strict=True))
    assert lines["long.txt"] == 3 and lines["latin1.txt"] == 1 and lines["empty.txt"] is None
    assert summary["errors"] == 7 and summary["documents_failed"] == 6
    assert summary["sentences"] == 2 * 9 + 2
    long_out = (tmp_path / "out" / "docs" / "long.txt").read_text()
    assert "wort " * 1000 in long_out and long_out.count("\n\n") == 2
    assert not (tmp_path / "out" / "docs" / "binary.txt").exists()


def test_file_disappearing_mid_job(tmp_path, translator):
    inputs = write_docs(tmp_path / "in", n_docs=3)
    cfg = TranslateConfig(**FAST, shard_bytes=1)  # one document per shard
    out = tmp_path / "out"
    plan_job([inputs], cfg, out, _fingerprint([inputs], translator, cfg))
    translate_shared(out, translator, cfg)
    translate_shard(out, 0, translator, cfg)
    (inputs / "doc2.txt").unlink()  # planned for shard 1
    summary = translate_job([inputs], translator, cfg, out)
    reasons = pq.read_table(out / "errors.parquet")["reason"].to_pylist()
    assert reasons == ["file_missing"]
    assert summary["shards_skipped"] == 1 and summary["sentences"] == 18


def _fingerprint(inputs, translator, cfg):
    return job_fingerprint(inputs, translator.model_id, cfg)


def test_run_translate_from_run_dir_with_markdown(tmp_path):
    run = make_run_dir(tmp_path / "run")
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "readme.md").write_text(
        "# Ein Hund\n\nDer Hund läuft. Siehe `code()` und https://example.com/x.\n\n```\nkeep me\n```\n"
    )
    summary = run_translate([inputs], run, TranslateConfig(**FAST, device="auto"), tmp_path / "out")
    assert summary["model_id"].startswith("run/best.pt@") and summary["errors"] == 0
    out = (tmp_path / "out" / "docs" / "readme.md").read_text()
    assert out.startswith("# ") and "`code()`" in out and "https://example.com/x" in out
    assert out.endswith("\n\n```\nkeep me\n```\n")
    trans = pq.read_table(tmp_path / "out" / "translations.parquet")
    assert trans["source"].to_pylist() == ["Ein Hund", "Der Hund läuft.", "Siehe", "und"]
    again = run_translate([inputs], run, TranslateConfig(**FAST, device="auto"), tmp_path / "out")
    assert again["shards_skipped"] == again["shards"] == 1
    with pytest.raises(ValueError, match="other inputs"):
        run_translate([inputs], run, TranslateConfig(**{**FAST, "beam": 2}, device="auto"), tmp_path / "out")


def test_jsonl_and_parquet_tables_in_same_format(tmp_path, translator):
    src = sentences(12, seed=11)
    folder = tmp_path / "in"
    folder.mkdir()
    records = [{"id": k, "text": f"{src[k]}\n\n{src[k + 6]}", "lang": "de"} for k in range(6)]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines[2] = "{not json"
    lines.insert(4, "")  # a blank line stays
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = pa.table({"id": [10, 11, 12, 13], "text": [src[0], None, src[1], src[2]], "n": [1, 2, 3, 4]})
    pq.write_table(table, folder / "b.parquet")
    cfg = TranslateConfig(**FAST, shard_bytes=120)  # tables cut across shards
    summary = translate_job([folder], translator, cfg, tmp_path / "out")
    assert summary["shards"] >= 3
    assert summary["documents"] == 10 and summary["errors"] == 2
    errors = pq.read_table(tmp_path / "out" / "errors.parquet").to_pylist()
    assert [(e["doc_id"], e["reason"], e["line"]) for e in errors] == [
        ("a.jsonl#3", "bad_record", 3),
        ("b.parquet#11", "bad_record", 2),
    ]
    out_lines = (tmp_path / "out" / "docs" / "a.jsonl").read_text(encoding="utf-8").split("\n")
    assert len(out_lines) == len(lines) + 1 and out_lines[2] == "{not json" and out_lines[4] == ""
    first = json.loads(out_lines[0])
    assert first["id"] == 0 and first["lang"] == "de" and first["text"].count("\n\n") == 1
    out_table = pq.read_table(tmp_path / "out" / "docs" / "b.parquet")
    assert out_table["id"].to_pylist() == [10, 11, 12, 13] and out_table["n"].to_pylist() == [1, 2, 3, 4]
    assert out_table["text"][1].as_py() is None and out_table["text"][0].as_py() != src[0]
    trans = pq.read_table(tmp_path / "out" / "translations.parquet")
    assert trans.num_rows == summary["sentences"] == 5 * 2 + 3
    assert trans["doc_id"].to_pylist()[:2] == ["a.jsonl#0", "a.jsonl#0"]
    assert not list((tmp_path / "out" / "docs").rglob("*.parts"))


def test_nbest_lists(translator):
    out = translator.translate(
        sentences(3, seed=5), DecodeConfig(beam=4, n_best=3, max_len_a=1.0, max_len_b=2)
    )
    for r in out:
        assert len(r.nbest) == 3 and r.nbest[0] == (r.translation, r.score)
        assert len({text for text, _ in r.nbest}) >= 2


def test_identical_sentences_are_decoded_once_per_job(tmp_path, translator, monkeypatch):
    pool = write_repeats(tmp_path / "in")
    decoded = spy_encoded(monkeypatch, translator)
    summary = translate_job([tmp_path / "in"], translator, REPEATS_CFG, tmp_path / "out")
    assert sorted(decoded) == sorted(pool)  # each distinct sentence once, the shared ones included
    assert summary["shards"] == 6 and summary["sentences"] == len(by_letter(pool, REPEATS))
    assert summary["unique_sentences"] == summary["decoded_sentences"] == len(pool)
    assert summary["shared_sentences"] == len(REPEATS_SHARED)
    trans = pq.read_table(tmp_path / "out" / "translations.parquet").to_pylist()
    align = pq.read_table(tmp_path / "out" / "alignments.parquet").to_pylist()
    assert [r["source"] for r in trans] == by_letter(pool, REPEATS)  # one row per sentence, input order
    keys = ("doc_id", "paragraph", "sentence")
    assert [[r[k] for k in keys] for r in trans] == [[r[k] for k in keys] for r in align]
    first: dict[str, tuple] = {}
    for t, a in zip(trans, align, strict=True):
        row = (
            t["translation"],
            t["score"],
            a["src_tokens"],
            a["tgt_tokens"],
            a["attention"],
            a["word_links"],
        )
        assert first.setdefault(t["source"], row) == row
