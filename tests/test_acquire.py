"""The acquire stage: generated corpus, local and HTTP parallel files, per-line rejects, reruns."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from http_server import FileServer

from nmt.core.atomic import read_json
from nmt.core.schema import PAIRS, REJECTS
from nmt.data.acquire import AcquireConfig, run_acquire
from nmt.data.readers import ReadError

FAST = {"attempts": 3, "backoff_s": 0.01, "timeout_s": 10}


def cfg(source: dict, tmp_path: Path, **extra) -> AcquireConfig:
    """A config with a private cache and fast retries."""
    return AcquireConfig(source=source, cache_dir=tmp_path / "cache", download=FAST, **extra)


def read_pairs(out: Path):
    table = pq.read_table(out / "pairs.parquet")
    assert table.schema.equals(PAIRS, check_metadata=False)
    return table.to_pylist()


def read_rejects(out: Path):
    table = pq.read_table(out / "rejects.parquet")
    assert table.schema.equals(REJECTS, check_metadata=False)
    return table.to_pylist()


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """A train/val pair of files, with bad lines among the good ones, in `<split>.<lang>` layout."""
    folder = tmp_path / "messy"
    folder.mkdir()
    en = [
        b"A dog runs.",
        b"Bad \xff\xfe bytes.",  # invalid UTF-8 (source side)
        b"",  # blank source
        b"A cat\x00sleeps.",  # NUL byte
        b"x" * 1_000_000,  # a 1 MB line
        b"  Two   spaces\tand a tab.\r",  # cleaned, kept
        b"A dog runs.",  # duplicate of line 1
        b"Caf\x65\xcc\x81 time.",  # e + combining acute: NFC makes it one character
        b"Short.",
    ]
    de = [
        b"Ein Hund rennt.",
        b"Schlechte Bytes.",
        b"Leer.",
        b"Eine Katze schl\xc3\xa4ft.",
        b"Lang.",
        b"Zwei Leerzeichen und ein Tab.",
        b"Ein Hund rennt.",
        b"Caf\xc3\xa9-Zeit.",
        b"Dies ist ein viel zu langer Satz f\xc3\xbcr so wenig.",  # length ratio > 4
    ]
    (folder / "train.en").write_bytes(b"\n".join(en) + b"\n")
    (folder / "train.de").write_bytes(b"\n".join(de) + b"\n")
    (folder / "val.en.gz").write_bytes(gzip.compress(b"Hello.\nGood night.\n"))
    (folder / "val.de.gz").write_bytes(gzip.compress(b"Hallo.\nGute Nacht.\n"))
    return folder


def test_generated_corpus_counts_schema_and_gold(tmp_path):
    sizes = {"train": 300, "valid": 20, "test": 25}
    out = tmp_path / "out"
    summary = run_acquire(cfg({"kind": "generated", "sizes": sizes, "seed": 3}, tmp_path), out)
    assert summary["counts"] == sizes
    assert summary["rejects_total"] == 0
    assert (summary["src_lang"], summary["tgt_lang"]) == ("en", "xx")
    rows = read_pairs(out)
    assert [r["id"] for r in rows] == list(range(345))
    assert [r["split"] for r in rows] == ["train"] * 300 + ["valid"] * 20 + ["test"] * 25
    for split, n in sizes.items():
        gold = (out / "gold" / f"{split}.talp").read_text().splitlines()
        assert len(gold) == n
        split_rows = [r for r in rows if r["split"] == split]
        src_words = len(split_rows[0]["src"].split())
        assert max(int(link.replace("p", "-").split("-")[0]) for link in gold[0].split()) <= src_words
    manifest = read_json(out / "manifest.json")
    assert manifest["counts"] == sizes and manifest["outputs"]["gold"]["test"] == "gold/test.talp"
    again = run_acquire(cfg({"kind": "generated", "sizes": sizes, "seed": 3}, tmp_path), out)
    assert again["cached"] and again["counts"] == sizes


def test_local_files_bad_lines_go_to_rejects(messy, tmp_path):
    out = tmp_path / "out"
    source = {"kind": "directory", "location": str(messy), "src_lang": "en", "tgt_lang": "de"}
    summary = run_acquire(cfg(source, tmp_path), out)
    assert summary["counts"] == {"train": 3, "valid": 2}
    rows = read_pairs(out)
    assert [(r["split"], r["src"], r["tgt"], r["origin"]) for r in rows] == [
        ("train", "A dog runs.", "Ein Hund rennt.", "train.en:1"),
        ("train", "Two spaces and a tab.", "Zwei Leerzeichen und ein Tab.", "train.en:6"),
        ("train", "Caf\u00e9 time.", "Caf\u00e9-Zeit.", "train.en:8"),
        ("valid", "Hello.", "Hallo.", "val.en.gz:1"),
        ("valid", "Good night.", "Gute Nacht.", "val.en.gz:2"),
    ]
    rejects = {(r["origin"], r["line"]): r for r in read_rejects(out)}
    assert {key: r["reason"] for key, r in rejects.items()} == {
        ("train.en", 2): "invalid_utf8",
        ("train.en", 3): "empty",
        ("train.en", 4): "nul_byte",
        ("train.en", 5): "too_long",
        ("train.en", 7): "duplicate",
        ("train.en", 9): "length_ratio",
    }
    assert rejects[("train.en", 2)]["raw"] == "Bad \\xff\\xfe bytes."
    assert rejects[("train.en", 4)]["raw"].startswith("A cat\\x00sleeps.")
    assert len(rejects[("train.en", 5)]["raw"]) < 3000
    assert "train.en:1" in rejects[("train.en", 7)]["detail"]
    assert summary["rejects"] == {
        "duplicate": 1,
        "empty": 1,
        "invalid_utf8": 1,
        "length_ratio": 1,
        "nul_byte": 1,
        "too_long": 1,
    }
    manifest = read_json(out / "manifest.json")
    names = sorted(f["name"] for f in manifest["files"])
    assert names == ["train.de", "train.en", "val.de.gz", "val.en.gz"]
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])


def test_cleaning_can_be_turned_off(messy, tmp_path):
    source = {"kind": "directory", "location": str(messy), "src_lang": "en", "tgt_lang": "de"}
    summary = run_acquire(cfg(source, tmp_path, cleaning={"enabled": False}), tmp_path / "out")
    assert summary["counts"] == {"train": 8, "valid": 2}
    assert summary["rejects"] == {"invalid_utf8": 1}


def test_mismatched_line_counts_name_both_files(tmp_path):
    (tmp_path / "a.en").write_text("one\ntwo\nthree\n")
    (tmp_path / "a.de").write_text("eins\nzwei\n")
    pair = {"src": str(tmp_path / "a.en"), "tgt": str(tmp_path / "a.de")}
    source = {"kind": "files", "splits": {"train": pair}}
    with pytest.raises(ReadError, match=r"a\.en has 3 lines, a\.de has 2"):
        run_acquire(cfg(source, tmp_path), tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_http_files_give_the_same_pairs_as_local(messy, tmp_path):
    local = run_acquire(
        cfg({"kind": "directory", "location": str(messy), "src_lang": "en", "tgt_lang": "de"}, tmp_path),
        tmp_path / "local",
    )
    with FileServer(messy) as server:
        splits = {
            "train": {"src": f"{server.url}/train.en", "tgt": f"{server.url}/train.de"},
            "val": {"src": f"{server.url}/val.en.gz", "tgt": f"{server.url}/val.de.gz"},
        }
        remote = run_acquire(cfg({"kind": "files", "splits": splits}, tmp_path), tmp_path / "remote")
        assert len(server.log) == 4
        assert all(f["downloaded"] for f in remote["files"])
        rerun = run_acquire(cfg({"kind": "files", "splits": splits}, tmp_path), tmp_path / "remote")
        assert rerun["cached"] and len(server.log) == 4  # the cache answered: no new request
    assert read_pairs(tmp_path / "remote") == read_pairs(tmp_path / "local")
    assert read_rejects(tmp_path / "remote") == read_rejects(tmp_path / "local")
    assert remote["counts"] == local["counts"] and remote["rejects"] == local["rejects"]
    assert {f["sha256"] for f in remote["files"]} == {f["sha256"] for f in local["files"]}


SHARED = Path(__file__).parents[1].parent / "shared" / "corpora"
needs_corpora = pytest.mark.skipif(
    not (SHARED / "multi30k").is_dir() or not (SHARED / "tatoeba").is_dir(),
    reason=f"shared corpora not found at {SHARED} (multi30k/ and tatoeba/ are needed)",
)


@pytest.fixture(scope="module")
def corpora_server():
    with FileServer(SHARED) as server:
        yield server


@pytest.mark.corpora
@needs_corpora
def test_multi30k_through_mirror_over_http(corpora_server, tmp_path, monkeypatch):
    monkeypatch.setenv("NMT_MIRROR", corpora_server.url)
    source = {"kind": "catalogue", "corpus": "multi30k", "src_lang": "de", "tgt_lang": "en"}
    summary = run_acquire(cfg(source, tmp_path), tmp_path / "out")
    assert summary["counts"] == {"train": 28995, "valid": 1014, "test": 1000}
    assert summary["rejects"] == {"duplicate": 3, "length_ratio": 2}
    assert sorted(s["split"] for s in summary["skipped"]) == [
        "test_2017_flickr",
        "test_2017_mscoco",
        "test_2018_flickr",
    ]
    assert summary["mirror"] == corpora_server.url
    assert len(summary["files"]) == 6 and all(f["verified"] for f in summary["files"])
    rows = read_pairs(tmp_path / "out")
    assert rows[0]["origin"] == "train.de.gz:1" and rows[-1]["origin"] == "test_2016_flickr.de.gz:1000"


@pytest.mark.corpora
@needs_corpora
def test_tatoeba_through_mirror_keeps_translations_together(corpora_server, tmp_path):
    source = {"kind": "catalogue", "corpus": "tatoeba", "src_lang": "en", "tgt_lang": "fr"}
    summary = run_acquire(cfg(source, tmp_path, mirror=corpora_server.url), tmp_path / "out")
    assert summary["counts"] == {"train": 160498, "valid": 3354, "test": 3275}
    assert summary["rejects"] == {"duplicate": 2, "length_ratio": 1}
    assert summary["files"][0]["name"] == "fra-eng.zip" and summary["files"][0]["verified"]
    rows = read_pairs(tmp_path / "out")
    split_of: dict[str, str] = {}
    for row in rows:
        assert split_of.setdefault(row["src"], row["split"]) == row["split"]
    assert rows[0]["origin"].startswith("fra-eng.zip/fra-eng/fra.txt:")


def test_download_resumes_after_a_cut(tmp_path):
    from nmt.core.atomic import file_sha256
    from nmt.data.download import DownloadConfig, fetch

    (tmp_path / "www").mkdir()
    data = bytes(range(256)) * 4096  # 1 MiB
    (tmp_path / "www" / "big.bin").write_bytes(data)
    digest = file_sha256(tmp_path / "www" / "big.bin")
    with FileServer(tmp_path / "www") as server:
        server.cut["/big.bin"] = 300_000
        got = fetch(f"{server.url}/big.bin", tmp_path / "cache", DownloadConfig(**FAST), digest)
        assert server.log == [("/big.bin", None), ("/big.bin", "bytes=300000-")]
        again = fetch(f"{server.url}/big.bin", tmp_path / "cache", DownloadConfig(**FAST), digest)
        assert len(server.log) == 2
    assert got.path.read_bytes() == data and got.downloaded and not again.downloaded
    assert list(got.path.parent.iterdir()) == [got.path]


def test_digest_mismatch_is_an_error_and_leaves_no_file(tmp_path):
    from nmt.data.download import DigestMismatch, DownloadConfig, cache_path, fetch

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "a.txt").write_text("hello\n")
    with FileServer(tmp_path / "www") as server:
        url = f"{server.url}/a.txt"
        with pytest.raises(DigestMismatch, match=r"a\.txt: sha256 \w+ does not match the expected 0+"):
            fetch(url, tmp_path / "cache", DownloadConfig(**FAST), "0" * 64)
        assert list(cache_path(url, tmp_path / "cache").parent.iterdir()) == []
        source = {"kind": "table", "location": url, "sha256": "0" * 64, "format": "tsv"}
        with pytest.raises(DigestMismatch):
            run_acquire(cfg(source, tmp_path), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_slip_and_oversized_archives_are_refused(tmp_path):
    from nmt.data.archives import UnsafeArchive, extract

    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("data/ok.tsv", "a\tb\n")
        zf.writestr("../../evil.tsv", "x\ty\n")
    source = {"kind": "table", "location": str(slip), "member": "ok.tsv"}
    with pytest.raises(UnsafeArchive, match=r"slip\.zip: entry '\.\./\.\./evil\.tsv' points outside"):
        run_acquire(cfg(source, tmp_path), tmp_path / "out")
    assert not (tmp_path / "evil.tsv").exists() and not (tmp_path / "out").exists()

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.tsv", b"\0" * 2_000_000)
    with pytest.raises(UnsafeArchive, match=r"bomb\.zip: declares 2000000 bytes, more than the limit"):
        extract(bomb, tmp_path / "bomb", max_bytes=1_000_000)
    assert not (tmp_path / "bomb").exists()

    link = tmp_path / "link.tar"
    with tarfile.open(link, "w") as tf:
        info = tarfile.TarInfo("data/passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tf.addfile(info)
    with pytest.raises(UnsafeArchive, match=r"link 'data/passwd' -> '\.\./\.\./etc/passwd' points outside"):
        extract(link, tmp_path / "link", max_bytes=1_000_000)
    absolute = tmp_path / "abs.tar.gz"
    with tarfile.open(absolute, "w:gz") as tf:
        info = tarfile.TarInfo("/tmp/x.tsv")
        tf.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsafeArchive, match="absolute path"):
        extract(absolute, tmp_path / "abs", max_bytes=1_000_000)


def test_gz_larger_than_the_limit_is_refused(tmp_path):
    (tmp_path / "big.en.gz").write_bytes(gzip.compress(b"a\n" * 60_000))
    (tmp_path / "big.de.gz").write_bytes(gzip.compress(b"b\n" * 60_000))
    source = {"kind": "directory", "location": str(tmp_path), "src_lang": "en", "tgt_lang": "de"}
    download = {**FAST, "max_extract_bytes": 100_000}
    with pytest.raises(ReadError, match=r"big\.en\.gz: more than 100000 bytes once decompressed"):
        run_acquire(AcquireConfig(source=source, cache_dir=tmp_path / "c", download=download), tmp_path / "o")


PAIRS_IN = [("Hello.", "Hallo.", "train"), ("Thanks.", "Danke.", "train"), ("Yes.", "Ja.", "test")]


def _table_pairs(tmp_path: Path, location: Path, **fields: str) -> list[tuple[str, str, str]]:
    """Acquire the table at `location` (source fields such as src_field); its pairs as (src, tgt, split)."""
    source = {"kind": "table", "location": str(location), **fields}
    summary = run_acquire(cfg(source, tmp_path), tmp_path / "out")
    assert summary["pairs_total"] == len(read_pairs(tmp_path / "out"))
    return [(r["src"], r["tgt"], r["split"]) for r in read_pairs(tmp_path / "out")]


def test_tsv_reader_with_header_inside_tar_gz(tmp_path):
    body = "id\tde\ten\tset\n" + "".join(f"{i}\t{t}\t{s}\t{sp}\n" for i, (s, t, sp) in enumerate(PAIRS_IN))
    body += "short line\n"
    archive = tmp_path / "corpus.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in [("corpus/pairs.tsv", body.encode()), ("__MACOSX/corpus/._pairs.tsv", b"junk")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    assert _table_pairs(tmp_path, archive, src_field="en", tgt_field="de", split_field="set") == PAIRS_IN
    (reject,) = read_rejects(tmp_path / "out")
    assert (reject["origin"], reject["line"], reject["reason"]) == (
        "corpus.tar.gz/corpus/pairs.tsv",
        5,
        "bad_columns",
    )


def test_jsonl_reader_gz(tmp_path):
    lines = [json.dumps({"en": s, "de": t, "split": sp}) for s, t, sp in PAIRS_IN] + ["{oops", '{"en": 1}']
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    assert (
        _table_pairs(tmp_path, tmp_path / "c.jsonl.gz", src_field="en", tgt_field="de", split_field="split")
        == PAIRS_IN
    )
    assert [(r["line"], r["reason"]) for r in read_rejects(tmp_path / "out")] == [
        (4, "bad_record"),
        (5, "bad_record"),
    ]


def test_parquet_reader(tmp_path):
    table = pa.table(
        {
            "s": [p[0] for p in PAIRS_IN] + [None],
            "t": [p[1] for p in PAIRS_IN] + ["x"],
            "k": [p[2] for p in PAIRS_IN] + ["train"],
        }
    )
    pq.write_table(table, tmp_path / "c.parquet")
    assert (
        _table_pairs(tmp_path, tmp_path / "c.parquet", src_field="s", tgt_field="t", split_field="k")
        == PAIRS_IN
    )
    assert [(r["line"], r["reason"]) for r in read_rejects(tmp_path / "out")] == [(4, "empty")]


def test_tmx_reader_in_zip_with_seeded_split(tmp_path):
    tus = "".join(
        f'<tu><tuv xml:lang="en-US"><seg>{s}</seg></tuv><tuv xml:lang="DE"><seg>{t}</seg></tuv></tu>\n'
        for s, t, _ in PAIRS_IN
    )
    tmx = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<tmx version="1.4"><header srclang="en"/><body>\n'
        + tus
        + '<tu><tuv xml:lang="en"><seg>A <bpt i="1">&lt;b&gt;</bpt>bold<ept i="1">&lt;/b&gt;</ept> one.'
        '</seg></tuv><tuv xml:lang="de"><seg>Ein fettes.</seg></tuv></tu>\n'
        '<tu><tuv xml:lang="fr"><seg>Non.</seg></tuv><tuv xml:lang="de"><seg>Nein.</seg></tuv></tu>\n'
        "</body></tmx>\n"
    )
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as zf:
        zf.writestr("c.tmx", tmx)
    got = _table_pairs(tmp_path, tmp_path / "c.zip", src_lang="en", tgt_lang="de")
    assert sorted((s, t) for s, t, _ in got) == sorted(
        [(s, t) for s, t, _ in PAIRS_IN] + [("A bold one.", "Ein fettes.")]
    )
    assert {sp for *_, sp in got} <= {"train", "valid", "test"}
    assert [(r["line"], r["reason"]) for r in read_rejects(tmp_path / "out")] == [(7, "missing_language")]


def test_seeded_split_keeps_groups_and_fractions():
    import numpy as np

    from nmt.data.splitting import SPLITS, SplitConfig, assign_splits, sentence_key

    pairs = [(f"s{i // 3}", f"t{i}") for i in range(3000)] + [("x", "t0")]  # "x" shares t0 with s0
    pairs += [(f"c{i}", f"d{i // 2}") for i in range(50)]  # a chain through shared targets
    pairs += [(f"c{i}", f"d{(i + 1) // 2}") for i in range(50)]

    def splits_of(pairs: list[tuple[str, str]]) -> list[str]:
        keys = [np.array([sentence_key(p[side]) for p in pairs], np.uint64) for side in (0, 1)]
        return [SPLITS[c] for c in assign_splits(*keys, SplitConfig(valid=0.1, test=0.2, seed=7))]

    splits = splits_of(pairs)
    by_src: dict[str, set[str]] = {}
    for (src, _), split in zip(pairs, splits, strict=True):
        by_src.setdefault(src, set()).add(split)
    assert all(len(s) == 1 for s in by_src.values()) and by_src["x"] == by_src["s0"]
    assert len({split for (src, _), split in zip(pairs, splits, strict=True) if src[0] == "c"}) == 1
    share = {k: splits.count(k) / len(splits) for k in ("train", "valid", "test")}
    assert 0.6 < share["train"] < 0.8 and 0.05 < share["valid"] < 0.15 and 0.15 < share["test"] < 0.25
    assert splits_of(pairs[::-1]) == splits[::-1]
    assert splits_of([(t, s) for s, t in pairs]) == splits  # the same groups with the sides swapped
