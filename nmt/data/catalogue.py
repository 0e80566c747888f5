"""Known corpora: where their files are published, their digests where known, how to read them.

A mirror (a local folder or a base URL) replaces every catalogue URL with
`<mirror>/<corpus>/<file name as published>`; ../shared/corpora is laid out that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nmt.data.download import is_url

MULTI30K_URL = (
    "https://raw.githubusercontent.com/multi30k/dataset/"
    "a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw"
)
MULTI30K_LANGS = ("en", "de", "fr")
# (published split name, pipeline split name, optional): the corpus's own splits.
MULTI30K_SPLITS = (
    ("train", "train", False),
    ("val", "valid", False),
    ("test_2016_flickr", "test", False),
    ("test_2017_flickr", "test_2017_flickr", True),
    ("test_2018_flickr", "test_2018_flickr", True),
    ("test_2017_mscoco", "test_2017_mscoco", True),
)
# sha256 of the files as published (checked against ../shared/corpora, byte-identical upstream).
MULTI30K_SHA256 = {
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
}

# ManyThings publishes <lang3>-eng.zip holding <lang3>.txt: English<TAB>other[<TAB>attribution].
TATOEBA_URL = "https://www.manythings.org/anki"
# The 2019-04-07 fra-eng.zip, pinned at a commit so its digest holds (manythings.org updates in place).
TATOEBA_PINNED = {
    "fra-eng.zip": (
        "https://raw.githubusercontent.com/modelexlab/data/"
        "adddaf33ac35572bcfeb421efec29435e7ea9332/fra-eng.zip",
        "161c93f18da3a7e6df611ed961426613260de8af06ccf8c79c977afe5135ac44",
    ),
}
ISO639_3 = {
    "en": "eng",
    "fr": "fra",
    "de": "deu",
    "es": "spa",
    "it": "ita",
    "pt": "por",
    "nl": "nld",
    "ru": "rus",
    "tr": "tur",
    "pl": "pol",
    "ja": "jpn",
    "zh": "cmn",
    "ar": "ara",
    "fi": "fin",
    "hu": "hun",
    "cs": "ces",
    "sv": "swe",
    "da": "dan",
    "el": "ell",
    "he": "heb",
    "uk": "ukr",
}


@dataclass(frozen=True)
class CatalogueFile:
    """One published file of a corpus."""

    corpus: str
    name: str
    url: str
    sha256: str | None

    def location(self, mirror: str | None) -> str:
        """Where to fetch the file: its URL, or its place under `mirror`."""
        if mirror is None:
            return self.url
        if is_url(mirror):
            return f"{mirror.rstrip('/')}/{self.corpus}/{self.name}"
        return str(Path(mirror).expanduser() / self.corpus / self.name)


@dataclass(frozen=True)
class PairedSplit:
    """A split published as two line-aligned files; an optional one may be missing."""

    split: str
    src: CatalogueFile
    tgt: CatalogueFile
    optional: bool


@dataclass(frozen=True)
class TableEntry:
    """A corpus published as one tab-separated file inside an archive, without splits."""

    file: CatalogueFile
    member: str
    src_column: int
    tgt_column: int


def multi30k(src_lang: str, tgt_lang: str, extra_test_sets: bool = True) -> list[PairedSplit]:
    """Multi30k task 1 (raw): train, valid, test (2016 Flickr) and the later test sets."""
    for lang in (src_lang, tgt_lang):
        if lang not in MULTI30K_LANGS:
            raise ValueError(f"multi30k has no language {lang!r}; choose from {MULTI30K_LANGS}")
    if src_lang == tgt_lang:
        raise ValueError(f"multi30k: source and target are both {src_lang!r}")

    def file(stem: str, lang: str) -> CatalogueFile:
        name = f"{stem}.{lang}.gz"
        return CatalogueFile("multi30k", name, f"{MULTI30K_URL}/{name}", MULTI30K_SHA256.get(name))

    return [
        PairedSplit(split, file(stem, src_lang), file(stem, tgt_lang), optional)
        for stem, split, optional in MULTI30K_SPLITS
        if extra_test_sets or not optional
    ]


def tatoeba(src_lang: str, tgt_lang: str) -> TableEntry:
    """The ManyThings/Tatoeba archive of an English pair (`en` and another language)."""
    codes = [ISO639_3.get(lang, lang) for lang in (src_lang, tgt_lang)]
    if codes.count("eng") != 1:
        raise ValueError(f"tatoeba pairs English with another language, not {src_lang}-{tgt_lang}")
    other = codes[0] if codes[1] == "eng" else codes[1]
    name = f"{other}-eng.zip"
    url, sha256 = TATOEBA_PINNED.get(name, (f"{TATOEBA_URL}/{name}", None))
    english_first = codes[0] == "eng"
    return TableEntry(
        CatalogueFile("tatoeba", name, url, sha256),
        member=f"{other}.txt",
        src_column=0 if english_first else 1,
        tgt_column=1 if english_first else 0,
    )


# statmt.org: the WMT'14 shared task files and the Europarl v7 release.
STATMT_URL = "https://www.statmt.org"
# sha256 of the archives as published, where known (from the TensorFlow Datasets checksum list);
# the others are recorded on first download (acquire's `<cache>/sha256.json`) and checked after.
STATMT_SHA256 = {
    "training-parallel-europarl-v7.tgz": "0224c7c710c8a063dfd893b0cc0830202d61f4c75c17eb8e31836103d27d96e7",
    "training-parallel-commoncrawl.tgz": "c7a74e2ea01ac6c920123108627e35278d4ccb5701e15428ffa34de86fa3a9e5",
    "training-parallel-nc-v9.tgz": "cb8953f292298e6877ae433c98912b927cb0766b303f4540512ddd286c748485",
}
# (archive path under STATMT_URL, member with {xx} for the other language and {l} for either side)
WMT14_TRAIN = {
    "fr": (
        ("wmt13/training-parallel-europarl-v7.tgz", "training/europarl-v7.fr-en.{l}"),
        ("wmt13/training-parallel-commoncrawl.tgz", "commoncrawl.fr-en.{l}"),
        ("wmt13/training-parallel-un.tgz", "un/undoc.2000.fr-en.{l}"),
        ("wmt14/training-parallel-nc-v9.tgz", "training/news-commentary-v9.fr-en.{l}"),
        ("wmt10/training-giga-fren.tar", "giga-fren.release2.fixed.{l}.gz"),
    ),
    "de": (
        ("wmt13/training-parallel-europarl-v7.tgz", "training/europarl-v7.de-en.{l}"),
        ("wmt13/training-parallel-commoncrawl.tgz", "commoncrawl.de-en.{l}"),
        ("wmt14/training-parallel-nc-v9.tgz", "training/news-commentary-v9.de-en.{l}"),
    ),
}
WMT14_DEV = ("wmt14/dev.tgz", ("newstest2012", "newstest2013"))  # dev/<set>.<lang>, plain text
WMT14_TEST = "wmt14/test-full.tgz"  # test-full/newstest2014-<xx>en-{src,ref}.<lang>.sgm
EUROPARL_V7_LANGS = (
    "bg", "cs", "da", "de", "el", "es", "et", "fi", "fr", "hu",
    "it", "lt", "lv", "nl", "pl", "pt", "ro", "sk", "sl", "sv",
)  # fmt: skip


@dataclass(frozen=True)
class ArchivePair:
    """Two line-aligned members of a published archive (plain text, .gz, or WMT SGML).

    `split` None: the corpus has no splits and the pairs get the seeded split.
    """

    split: str | None
    archive: CatalogueFile
    src_member: str
    tgt_member: str
    sgml: bool = False


def _other(corpus: str, src_lang: str, tgt_lang: str, langs: tuple[str, ...]) -> str:
    """The non-English language of an English pair that `corpus` has."""
    pair = {src_lang, tgt_lang}
    others = pair - {"en"}
    if len(pair) != 2 or len(others) != 1 or not others <= set(langs):
        raise ValueError(f"{corpus} pairs English with one of {', '.join(langs)}, not {src_lang}-{tgt_lang}")
    return others.pop()


def _statmt(corpus: str, path: str) -> CatalogueFile:
    name = path.rsplit("/", 1)[-1]
    return CatalogueFile(corpus, name, f"{STATMT_URL}/{path}", STATMT_SHA256.get(name))


def wmt14(src_lang: str, tgt_lang: str) -> list[ArchivePair]:
    """WMT'14 English-French or English-German as the shared task published it.

    train: Europarl v7, Common Crawl, UN (fr), News Commentary v9, 10^9 French-English (fr);
    valid: newstest2012 and newstest2013; test: newstest2014 (the full set, read from its SGML).
    """
    xx = _other("wmt14", src_lang, tgt_lang, tuple(WMT14_TRAIN))
    parts = [
        ArchivePair("train", _statmt("wmt14", path), member.format(l=src_lang), member.format(l=tgt_lang))
        for path, member in WMT14_TRAIN[xx]
    ]
    dev = _statmt("wmt14", WMT14_DEV[0])
    parts += [ArchivePair("valid", dev, f"dev/{s}.{src_lang}", f"dev/{s}.{tgt_lang}") for s in WMT14_DEV[1]]
    test = f"test-full/newstest2014-{xx}en"
    parts.append(
        ArchivePair(
            "test",
            _statmt("wmt14", WMT14_TEST),
            f"{test}-src.{src_lang}.sgm",
            f"{test}-ref.{tgt_lang}.sgm",
            True,
        )
    )
    return parts


def europarl(src_lang: str, tgt_lang: str) -> list[ArchivePair]:
    """Europarl v7 (statmt.org/europarl/v7/<xx>-en.tgz) for English and one of its 20 languages; no splits."""
    xx = _other("europarl", src_lang, tgt_lang, EUROPARL_V7_LANGS)
    archive = _statmt("europarl", f"europarl/v7/{xx}-en.tgz")
    member = f"europarl-v7.{xx}-en.{{l}}"
    return [ArchivePair(None, archive, member.format(l=src_lang), member.format(l=tgt_lang))]
