"""WMT'14 and Europarl v7 from the catalogue: fixture archives laid out as statmt.org publishes them."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from http_server import FileServer

from nmt.data import catalogue
from nmt.data.acquire import AcquireConfig, run_acquire
from nmt.data.download import DigestMismatch

FAST = {"attempts": 2, "backoff_s": 0.01, "timeout_s": 10}


def _tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    """A tar archive of `members` (inner path -> bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _lines(*lines: str) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


def _sgm(kind: str, lang: str, segments: list[str]) -> bytes:
    """A WMT'14 test-full SGML file: <srcset>/<refset>, one <doc>, one <seg> per line."""
    tag = "srcset" if kind == "src" else "refset"
    head = f'<{tag} setid="newstest2014" srclang="any" trglang="{lang}">\n'
    doc = '<doc sysid="ref" docid="1012-bbc" genre="news" origlang="en">\n<p>\n'
    segs = "".join(f'<seg id="{i}">{text}</seg>\n' for i, text in enumerate(segments, start=1))
    return (head + doc + segs + "</p>\n</doc>\n" + f"</{tag}>\n").encode()


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A mirror folder holding small copies of the WMT'14 fr-en archives and Europarl v7 de-en."""
    root = tmp_path / "mirror"
    wmt = root / "wmt14"
    _tar(
        wmt / "training-parallel-europarl-v7.tgz",
        {
            "training/europarl-v7.fr-en.en": _lines("Resumption of the session.", "Thank you."),
            "training/europarl-v7.fr-en.fr": _lines("Reprise de la session.", "Merci."),
            "training/europarl-v7.de-en.en": _lines("Not this one."),
            "training/europarl-v7.de-en.de": _lines("Nicht dieses."),
        },
    )
    _tar(
        wmt / "training-parallel-commoncrawl.tgz",
        {
            "commoncrawl.fr-en.en": _lines("Hotel near the beach.", "Thank you."),
            "commoncrawl.fr-en.fr": _lines("Hôtel près de la plage.", "Merci."),  # a repeat of Europarl's
            "commoncrawl.fr-en.annotation": _lines("x", "y"),
        },
    )
    _tar(
        wmt / "training-parallel-un.tgz",
        {
            "un/undoc.2000.fr-en.en": _lines("General Assembly."),
            "un/undoc.2000.fr-en.fr": _lines("Assemblée générale."),
        },
    )
    _tar(
        wmt / "training-parallel-nc-v9.tgz",
        {
            "training/news-commentary-v9.fr-en.en": _lines("Markets fell."),
            "training/news-commentary-v9.fr-en.fr": _lines("Les marchés ont chuté."),
        },
    )
    _tar(  # an uncompressed tar of .gz files, as published
        wmt / "training-giga-fren.tar",
        {
            "giga-fren.release2.fixed.en.gz": gzip.compress(_lines("Web page one.", "Web page two.")),
            "giga-fren.release2.fixed.fr.gz": gzip.compress(_lines("Page web un.", "Page web deux.")),
        },
        mode="w",
    )
    _tar(
        wmt / "dev.tgz",
        {
            "dev/newstest2012.en": _lines("News of 2012."),
            "dev/newstest2012.fr": _lines("Nouvelles de 2012."),
            "dev/newstest2013.en": _lines("News of 2013.", "More news."),
            "dev/newstest2013.fr": _lines("Nouvelles de 2013.", "Encore des nouvelles."),
        },
    )
    src = ["Gutach: Increased safety for pedestrians", "&quot;Ben &amp; Jerry&apos;s&quot; &lt;3"]
    ref = ["Gutach : une sécurité accrue pour les piétons", "« Ben &amp; Jerry&apos;s » &lt;3"]
    _tar(
        wmt / "test-full.tgz",
        {
            "test-full/newstest2014-fren-src.en.sgm": _sgm("src", "en", src),
            "test-full/newstest2014-fren-ref.fr.sgm": _sgm("ref", "fr", ref),
            "test-full/newstest2014-fren-src.fr.sgm": _sgm("src", "fr", ref),
            "test-full/newstest2014-fren-ref.en.sgm": _sgm("ref", "en", src),
        },
    )
    _tar(
        root / "europarl" / "de-en.tgz",
        {
            "europarl-v7.de-en.de": _lines(*(f"Satz {i}." for i in range(200))),
            "europarl-v7.de-en.en": _lines(*(f"Sentence {i}." for i in range(200))),
        },
    )
    return root


@pytest.fixture
def unpinned(monkeypatch):
    """The fixtures are not the published archives: forget the published digests."""
    monkeypatch.setattr(catalogue, "STATMT_SHA256", {})


def _acquire(tmp_path: Path, mirror: str, corpus: str, src: str, tgt: str) -> tuple[dict, list[dict]]:
    source = {"kind": "catalogue", "corpus": corpus, "src_lang": src, "tgt_lang": tgt}
    cfg = AcquireConfig(source=source, cache_dir=tmp_path / "cache", download=FAST, mirror=mirror)
    summary = run_acquire(cfg, tmp_path / "out")
    return summary, pq.read_table(tmp_path / "out" / "pairs.parquet").to_pylist()


def test_wmt14_en_fr_over_http_reads_every_corpus_and_the_sgml_test_set(mirror, tmp_path, unpinned):
    with FileServer(mirror) as server:
        summary, rows = _acquire(tmp_path, server.url, "wmt14", "en", "fr")
        fetched = sorted(path for path, _ in server.log)
    assert fetched == sorted(
        f"/wmt14/{name}"
        for name in (
            "training-parallel-europarl-v7.tgz",
            "training-parallel-commoncrawl.tgz",
            "training-parallel-un.tgz",
            "training-parallel-nc-v9.tgz",
            "training-giga-fren.tar",
            "dev.tgz",
            "test-full.tgz",
        )
    )
    assert summary["counts"] == {"train": 7, "valid": 3, "test": 2}
    assert summary["rejects"] == {"duplicate": 1}  # "Thank you." / "Merci." in Common Crawl again
    by_split = {
        s: [(r["src"], r["tgt"]) for r in rows if r["split"] == s] for s in ("train", "valid", "test")
    }
    assert by_split["train"][0] == ("Resumption of the session.", "Reprise de la session.")
    assert ("Web page two.", "Page web deux.") in by_split["train"]
    assert by_split["valid"] == [
        ("News of 2012.", "Nouvelles de 2012."),
        ("News of 2013.", "Nouvelles de 2013."),
        ("More news.", "Encore des nouvelles."),
    ]
    assert by_split["test"] == [
        ("Gutach: Increased safety for pedestrians", "Gutach : une sécurité accrue pour les piétons"),
        ('"Ben & Jerry\'s" <3', "« Ben & Jerry's » <3"),
    ]
    test_origins = [r["origin"] for r in rows if r["split"] == "test"]
    assert test_origins == [
        "test-full.tgz/test-full/newstest2014-fren-src.en.sgm:4",
        "test-full.tgz/test-full/newstest2014-fren-src.en.sgm:5",
    ]
    recorded = json.loads((tmp_path / "cache" / "sha256.json").read_text())
    assert set(recorded) == {f"wmt14/{p.name}" for p in (mirror / "wmt14").iterdir()}


def test_wmt14_fr_en_through_a_mirror_folder_takes_the_other_direction(mirror, tmp_path, unpinned):
    summary, rows = _acquire(tmp_path, str(mirror), "wmt14", "fr", "en")
    test = [(r["src"], r["tgt"]) for r in rows if r["split"] == "test"]
    assert test[0] == (
        "Gutach : une sécurité accrue pour les piétons",
        "Gutach: Increased safety for pedestrians",
    )
    assert summary["src_lang"] == "fr" and summary["counts"]["train"] == 7


def test_an_archive_that_changed_since_its_first_download_is_refused(mirror, tmp_path, unpinned):
    _acquire(tmp_path, str(mirror), "wmt14", "en", "fr")
    _tar(mirror / "wmt14" / "dev.tgz", {"dev/newstest2012.en": b"", "dev/newstest2012.fr": b""})
    with pytest.raises(DigestMismatch, match=r"dev\.tgz: sha256 \w+ does not match the expected"):
        _acquire(tmp_path, str(mirror), "wmt14", "en", "fr")


def test_published_digests_are_checked(mirror, tmp_path):
    with pytest.raises(DigestMismatch, match="training-parallel-europarl-v7.tgz: sha256"):
        _acquire(tmp_path, str(mirror), "wmt14", "en", "fr")


def test_europarl_v7_any_pair_gets_a_seeded_split(mirror, tmp_path, unpinned):
    summary, rows = _acquire(tmp_path, str(mirror), "europarl", "de", "en")
    assert sum(summary["counts"].values()) == 200 and summary["counts"]["train"] > 150
    assert rows[0]["origin"].startswith("de-en.tgz/europarl-v7.de-en.de:")
    assert {(r["src"].split()[1], r["tgt"].split()[1]) for r in rows} == {
        (f"{i}.", f"{i}.") for i in range(200)
    }


def test_catalogue_refuses_pairs_it_does_not_publish():
    with pytest.raises(ValueError, match="wmt14 pairs English with one of fr, de, not en-es"):
        catalogue.wmt14("en", "es")
    with pytest.raises(ValueError, match="europarl pairs English with one of"):
        catalogue.europarl("de", "fr")
    urls = {p.archive.url for p in catalogue.wmt14("en", "de")}
    assert "https://www.statmt.org/wmt13/training-parallel-un.tgz" not in urls
    assert "https://www.statmt.org/wmt14/test-full.tgz" in urls
