"""Tokenize stage: round trip, schema and metadata, determinism, shards, idempotency."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nmt.core import vocab
from nmt.core.schema import PAIRS, TOKENS
from nmt.text.spm_training import write_sentences
from nmt.text.token_shards import MAX_LEN, LengthStats
from nmt.text.tokenization import (
    TokenizeConfig,
    Tokenizer,
    iter_tokens,
    read_tokens,
    run_tokenize,
)


def tokens_metadata(tokenize_dir: Path, split: str) -> dict[str, str]:
    """The schema metadata of a split's TOKENS file."""
    meta = pq.read_schema(Path(tokenize_dir) / f"{split}.parquet").metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items()}


def normalized(sp, texts: list[str]) -> list[str]:
    """The texts as the model normalizes them: what decode(encode(x)) returns."""
    return [sp.normalize(t).replace("\u2581", " ").removeprefix(" ") for t in texts]


HARD = [
    "Ça va\u00a0? Oui\u202f! 12\u00a0000 euros.",  # no-break and narrow no-break spaces
    "Party time 🎉👩🏽‍💻 with emoji 🇫🇷",  # emoji, skin tone, ZWJ sequence, flag
    "שָׁלוֹם עולם, مرحبا بالعالم",  # right-to-left, Hebrew points
    "cafe\u0301 nai\u0308ve Z\u0327",  # combining marks (decomposed)
    "ﬁne ＦＵＬＬ　width  double  spaces",  # ligature, full-width, ideographic space
]
WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "red", "blue", "house", "river", "walks"]
WORDS += ["runs", "le", "chat", "chien", "rouge"]


def make_pairs(path: Path, n: int, seed: int = 0) -> list[dict]:
    """A pairs table of n rows over train/valid/test with the hard strings sprinkled in."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        src = " ".join(rng.choices(WORDS, k=rng.randint(1, 12)))
        tgt = " ".join(rng.choices(WORDS, k=rng.randint(1, 12)))
        if i % 7 == 0:
            src, tgt = f"{HARD[i % len(HARD)]} {src}", f"{tgt} {HARD[(i + 2) % len(HARD)]}"
        split = "train" if i % 10 < 8 else ("valid" if i % 10 == 8 else "test")
        rows.append({"id": i, "split": split, "src": src, "tgt": tgt, "origin": f"t:{i + 1}"})
    pq.write_table(pa.Table.from_pylist(rows, schema=PAIRS), path)
    return rows


SMALL = {"vocab_size": 400, "threads": 2}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[dict]]:
    path = tmp_path_factory.mktemp("pairs") / "pairs.parquet"
    return path, make_pairs(path, 1200)


@pytest.fixture(scope="module")
def joint(corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tok")
    return out, run_tokenize(corpus[0], TokenizeConfig(**SMALL, row_group_rows=100), out)


@pytest.mark.parametrize("normalization", ["nmt_nfkc", "identity"])
@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_round_trip_is_the_normalized_text(corpus, tmp_path, normalization, model_type):
    cfg = TokenizeConfig(**SMALL, normalization=normalization, model_type=model_type)
    run_tokenize(corpus[0], cfg, tmp_path)
    tok = Tokenizer.load(tmp_path)
    texts = [*HARD, "unseen ✈ ∮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ሰላም"]
    sides = ((tok.encode_src, tok.src.decode, tok.src), (tok.encode_tgt, tok.decode_tgt, tok.tgt))
    for encode, decode, sp in sides:
        ids = encode(texts)
        assert decode(ids) == normalized(sp, texts)
        assert all(vocab.BOS not in x and vocab.EOS not in x for x in ids)
    norm = normalized(tok.src, HARD)
    if normalization == "nmt_nfkc":
        # NFKC: no-break spaces become spaces, marks compose, compatibility forms fold.
        assert norm[0] == "Ça va ? Oui ! 12 000 euros."
        assert norm[3] == "caf\u00e9 na\u00efve Z\u0327"  # Z+cedilla has no precomposed form
        assert norm[4] == "fine FULL width double spaces"
    else:
        assert norm[0] == HARD[0]
        assert norm[3] == HARD[3]
        assert norm[4] == "ﬁne ＦＵＬＬ　width double spaces"  # only ASCII space runs collapse


def test_decode_skips_special_ids(joint):
    tok = Tokenizer.load(joint[0])
    ids = tok.encode_tgt(["the red cat"])[0]
    padded = [vocab.BOS, *ids, vocab.EOS, vocab.PAD, vocab.PAD]
    assert tok.decode_tgt([padded]) == ["the red cat"]
    assert "".join(tok.tgt_pieces(ids)).replace("\u2581", " ").strip() == "the red cat"


def test_schema_metadata_and_contents(corpus, joint):
    out, summary = joint
    rows = corpus[1]
    model_sha = hashlib.sha256((out / "spm.model").read_bytes()).hexdigest()
    tok = Tokenizer.load(out)
    assert tok.sha256 == model_sha == summary["tokenizer_sha256"]
    for split in ("train", "valid", "test"):
        table = read_tokens(out, split)
        assert table.schema.equals(TOKENS, check_metadata=False)
        meta = tokens_metadata(out, split)
        assert meta["nmt.schema_version"] == TOKENS.metadata[b"nmt.schema_version"].decode()
        assert meta["nmt.tokenizer.sha256"] == model_sha
        assert int(meta["nmt.tokenizer.src_vocab_size"]) == tok.src_vocab_size
        assert json.loads(meta["nmt.tokenizer.special_ids"]) == vocab.SPECIAL_IDS
        expected = [r for r in rows if r["split"] == split]
        assert table["id"].to_pylist() == [r["id"] for r in expected]
        assert table["src_ids"].to_pylist() == tok.encode_src([r["src"] for r in expected])
        assert table["tgt_ids"].to_pylist() == tok.encode_tgt([r["tgt"] for r in expected])
        lengths = [len(x) for x in table["src_ids"].to_pylist()]
        assert table["src_len"].to_pylist() == lengths
        assert summary["rows"][split] == len(expected)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["summary"]["models"]["spm"]["sha256"] == model_sha
    assert manifest["settings"]["vocab_size"] == SMALL["vocab_size"]
    assert set(summary["files"]) == {
        "spm.model",
        "spm.vocab",
        "train.parquet",
        "valid.parquet",
        "test.parquet",
    }
    json.dumps(summary)


def test_shards_have_fixed_row_groups_and_match_one_big_group(corpus, joint, tmp_path):
    out, summary = joint
    meta = pq.ParquetFile(out / "train.parquet").metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    n = summary["rows"]["train"]
    assert sizes == [100] * (n // 100) + ([n % 100] if n % 100 else [])
    assert len(sizes) > 1
    big = run_tokenize(corpus[0], TokenizeConfig(**SMALL), tmp_path)
    assert pq.ParquetFile(tmp_path / "train.parquet").metadata.num_row_groups == 1
    assert big["tokenizer_sha256"] == summary["tokenizer_sha256"]
    for split in ("train", "valid", "test"):
        assert read_tokens(tmp_path, split).equals(read_tokens(out, split))
    streamed = pa.Table.from_batches(list(iter_tokens(out, "train", batch_rows=37)))
    assert streamed.equals(read_tokens(out, "train"))


def test_deterministic_models_and_ids(corpus, joint, tmp_path):
    out, summary = joint
    again = run_tokenize(corpus[0], TokenizeConfig(**SMALL, row_group_rows=100), tmp_path)
    assert (tmp_path / "spm.model").read_bytes() == (out / "spm.model").read_bytes()
    assert again["splits"] == summary["splits"]
    for split in ("train", "valid", "test"):
        assert read_tokens(tmp_path, split).equals(read_tokens(out, split))


def test_idempotent_and_reruns_on_change(corpus, tmp_path):
    cfg = TokenizeConfig(**SMALL)
    first = run_tokenize(corpus[0], cfg, tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    (tmp_path / ".spm-input-killed").mkdir()  # what a run killed while sentencepiece trained leaves
    (tmp_path / ".spm-input-killed" / "sentences.txt").write_text("a killed run's training text\n")
    second = run_tokenize(corpus[0], cfg, tmp_path)
    assert second["skipped"] and not first["skipped"]
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps  # and the scratch is gone
    (tmp_path / "valid.parquet").unlink()  # a missing output forces a rerun
    assert not run_tokenize(corpus[0], cfg, tmp_path)["skipped"]
    separate = run_tokenize(corpus[0], TokenizeConfig(**SMALL, joint=False), tmp_path)
    assert not separate["skipped"]
    assert not (tmp_path / "spm.model").exists()  # stale joint model removed
    assert {"src.model", "tgt.model"} <= {p.name for p in tmp_path.iterdir()}


def test_one_model_per_language(corpus, tmp_path):
    summary = run_tokenize(corpus[0], TokenizeConfig(**SMALL, joint=False), tmp_path)
    tok = Tokenizer.load(tmp_path)
    assert not tok.joint and set(summary["models"]) == {"src", "tgt"}
    assert tok.src.serialized_model_proto() != tok.tgt.serialized_model_proto()
    table = read_tokens(tmp_path, "valid")
    assert tok.decode_tgt(table["tgt_ids"].to_pylist()[:5]) == normalized(
        tok.tgt, [r["tgt"] for r in corpus[1] if r["split"] == "valid"][:5]
    )
    meta = table.schema.metadata
    assert meta[b"nmt.tokenizer.sha256"].decode() == tok.sha256
    assert b"nmt.tokenizer.src_sha256" in meta and b"nmt.tokenizer.tgt_sha256" in meta


def test_pairs_over_the_limit_are_counted_not_dropped(corpus, tmp_path):
    summary = run_tokenize(corpus[0], TokenizeConfig(**SMALL, length_limit=8), tmp_path)
    rows = corpus[1]
    train = [r for r in rows if r["split"] == "train"]
    stats = summary["splits"]["train"]
    assert stats["rows"] == len(train) == read_tokens(tmp_path, "train").num_rows
    table = read_tokens(tmp_path, "train")
    lengths = zip(table["src_len"].to_pylist(), table["tgt_len"].to_pylist(), strict=True)
    over = sum(s > 8 or t > 8 for s, t in lengths)
    assert stats["over_limit"] == over > 0
    assert stats["share_over_limit"] == pytest.approx(over / len(train))
    assert stats["src_len"]["p50"] <= stats["src_len"]["p90"] <= stats["src_len"]["max"]


def test_length_stats_saturate_int16():
    stats = LengthStats()
    stats.add(np.array([3, 40000]), np.array([5, 1]), limit=100)
    out = stats.summary(100)
    assert out["saturated_len"] == 1 and out["over_limit"] == 1
    assert out["src_len"]["max"] == MAX_LEN


def test_sampled_copies_and_sampling_encode(corpus, tmp_path):
    cfg = TokenizeConfig(**SMALL, sampled_copies=2, sampling_alpha=0.5)
    summary = run_tokenize(corpus[0], cfg, tmp_path)
    tok = Tokenizer.load(tmp_path)
    plain = read_tokens(tmp_path, "train")
    copies = [pq.read_table(tmp_path / f"sampled/train-{k}.parquet") for k in range(2)]
    assert summary["sampled"]["train-0"]["rows"] == plain.num_rows
    for table in copies:
        assert table["id"].equals(plain["id"])
        assert tok.src.decode(table["src_ids"].to_pylist()) == tok.src.decode(plain["src_ids"].to_pylist())
    assert not copies[0]["src_ids"].equals(plain["src_ids"])
    assert not copies[0]["src_ids"].equals(copies[1]["src_ids"])
    assert tokens_metadata(tmp_path, "train")["nmt.tokenizer.sha256"] == tok.sha256
    assert run_tokenize(corpus[0], cfg, tmp_path)["skipped"]
    texts = ["the red cat walks on the blue mat"] * 20
    sampled = tok.encode_src(texts, sample=True, alpha=0.1)
    assert len({tuple(x) for x in sampled}) > 1
    assert tok.encode_src(texts, sample=True, alpha=0.1) != sampled
    assert tok.src.decode(sampled) == normalized(tok.src, texts)


def test_input_sampling_is_seeded(corpus, tmp_path):
    pairs = pq.ParquetFile(corpus[0])
    train = [r for r in corpus[1] if r["split"] == "train"]

    def sample(columns: list[str], limit: int, seed: int, shuffle: bool = True) -> list[str]:
        path = tmp_path / "sentences.txt"
        count = write_sentences(pairs, columns, "train", limit, seed, shuffle, path)
        lines = path.read_text(encoding="utf-8").splitlines()
        assert count == len(lines)
        return lines

    a = sample(["src", "tgt"], 100, seed=1)
    assert len(a) == 100
    assert a == sample(["src", "tgt"], 100, seed=1)
    assert a != sample(["src", "tgt"], 100, seed=2)
    assert sample(["src"], 0, seed=1) == [r["src"] for r in train]
    # Without shuffling: the first sentences in line order, each side's kept in table order.
    first = sample(["src", "tgt"], 7, seed=1, shuffle=False)
    assert first == [r["src"] for r in train[:4]] + [r["tgt"] for r in train[:3]]


def test_default_sample_trains_on_every_sentence_of_a_small_corpus(corpus, joint):
    train = [r for r in corpus[1] if r["split"] == "train"]
    assert joint[1]["spm_sentences"] == {"spm": sum(bool(r["src"]) + bool(r["tgt"]) for r in train)}
    assert TokenizeConfig().input_sentence_size >= 2 * 160_498  # Tatoeba en-fr: its train split, both sides


def test_bad_split_name_is_refused(tmp_path):
    rows = [{"id": 0, "split": "train", "src": "a b", "tgt": "c d", "origin": "x"}] * 50
    rows += [{"id": 1, "split": "../evil", "src": "a", "tgt": "c", "origin": "x"}]
    pq.write_table(pa.Table.from_pylist(rows, schema=PAIRS), tmp_path / "p.parquet")
    with pytest.raises(ValueError, match="split name"):
        run_tokenize(tmp_path / "p.parquet", TokenizeConfig(vocab_size=300), tmp_path / "o")


@pytest.mark.parametrize("encode_rows", [7, 100, 5000])
def test_pipeline_chunking_does_not_change_the_bytes(corpus, joint, tmp_path, monkeypatch, encode_rows):
    """The pipelined encoder's chunk size (interleaved splits, partial chunks) leaves files as they are."""
    from nmt.text import token_shards

    out, _ = joint
    tok = Tokenizer.load(out)
    monkeypatch.setattr(token_shards, "ENCODE_ROWS", encode_rows)
    stats = token_shards.write_token_shards(
        corpus[0],
        tmp_path,
        (tok.src, tok.tgt),
        file_name=lambda s: f"{s}.parquet",
        metadata=tokens_metadata(out, "train"),
        row_group_rows=100,
        threads=2,
        length_limit=100,
    )
    assert set(stats) == {"train", "valid", "test"}
    for split in stats:
        assert (tmp_path / f"{split}.parquet").read_bytes() == (out / f"{split}.parquet").read_bytes()


def test_stage_ids_equal_sentencepiece_public_encode(corpus, joint):
    """The stage's buffer encode (sentencepiece's numpy path) gives encode()'s ids, lengths and empties."""
    from nmt.text.token_shards import _encode, _to_list_array

    out, _ = joint
    sp = Tokenizer.load(out).src
    texts = [r["src"] for r in corpus[1]] + HARD + ["", " "]
    ids, lengths = _to_list_array(_encode(sp, texts, None))
    assert ids.type == pa.list_(pa.int32())
    assert ids.to_pylist() == sp.encode(texts)
    assert lengths.tolist() == [len(x) for x in sp.encode(texts)]
