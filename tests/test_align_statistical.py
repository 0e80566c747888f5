"""The statistical aligner: the word split, the align stage's table and priors, given lines, the CLI."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from nmt.align import aer
from nmt.align.aer import parse_pharaoh
from nmt.align.statistical import INSTALL
from nmt.align.words import aligner_line, tokenized_words, word_spans, words
from nmt.cli import app
from nmt.core.schema import ALIGN_LINKS
from nmt.data.acquire import AcquireConfig, GeneratedSource, run_acquire

ROOT = Path(__file__).resolve().parent.parent
PHARAOH = re.compile(r"^(\d+-\d+( \d+-\d+)*)?$")
TRAIN = 500


def test_words_split_raw_text_into_words_and_single_punctuation():
    text = "L'homme n'a pas 10,5\u00a0€ ; don't\u202f? Été_x"
    assert words(text) == [
        "L", "'", "homme", "n", "'", "a", "pas", "10", ",", "5", "€", ";",
        "don", "'", "t", "?", "Été", "_", "x",
    ]  # fmt: skip
    assert [text[a:b] for a, b in word_spans(text)] == words(text)
    assert words("e\u0301te\u0301 !") == ["e\u0301te\u0301", "!"]  # combining accents stay in the word


def test_tokenized_sides_keep_their_tokens_and_the_aligner_reads_them_lowercased():
    assert tokenized_words("  Mr. Speaker ,  l' ordre .  ") == ["Mr.", "Speaker", ",", "l'", "ordre", "."]
    assert aligner_line(["Mr.", "Speaker", ","]) == "mr. speaker ,"


@pytest.fixture(scope="module")
def aligned_run(tmp_path_factory) -> tuple[Path, dict]:
    """A generated corpus (exact gold links) aligned by the align stage."""
    pytest.importorskip("eflomal")
    from nmt.align.corpus import run_align_corpus

    run = tmp_path_factory.mktemp("align") / "run"
    run_acquire(
        AcquireConfig(source=GeneratedSource(sizes={"train": TRAIN, "valid": 5, "test": 60})), run / "acquire"
    )
    return run, run_align_corpus(run)


def test_align_stage_writes_links_of_every_training_pair(aligned_run):
    run, summary = aligned_run
    table = pq.read_table(run / "align" / "links.parquet")
    assert table.schema.equals(ALIGN_LINKS, check_metadata=True)
    assert table.schema.metadata[b"nmt.schema_version"] == b"1"
    pairs = pq.read_table(run / "acquire" / "pairs.parquet").to_pylist()
    train = [p for p in pairs if p["split"] == "train"]
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == [p["id"] for p in train]
    assert summary["pairs"] == TRAIN and summary["split"] == "train"
    for row, pair in zip(rows, train, strict=True):
        assert (row["src_words"], row["tgt_words"]) == (len(words(pair["src"])), len(words(pair["tgt"])))
        for column in ("forward", "reverse", "intersection", "grow_diag", "grow_diag_final_and"):
            assert PHARAOH.match(row[column]), row[column]
            links = parse_pharaoh(row[column])
            assert all(i < row["src_words"] and j < row["tgt_words"] for i, j in links)
        assert parse_pharaoh(row["intersection"]) == parse_pharaoh(row["forward"]) & parse_pharaoh(
            row["reverse"]
        )
    assert summary["links"]["intersection"] == sum(r["intersection"].count("-") for r in rows)
    assert json.loads((run / "align" / "summary.json").read_text())["pairs"] == TRAIN


def test_align_stage_links_match_the_generated_gold(aligned_run):
    run, _ = aligned_run
    table = pq.read_table(run / "align" / "links.parquet")
    gold = aer.read_talp(run / "acquire" / "gold" / "train.talp")
    for column, bound in (("intersection", 0.15), ("grow_diag_final_and", 0.15)):
        score = aer.score([parse_pharaoh(x) for x in table.column(column).to_pylist()], gold)
        assert score.aer < bound, (column, score)
    priors = (run / "align" / "priors.txt").read_text(encoding="utf-8").splitlines()
    kinds = {line.split("\t")[0] for line in priors}
    assert kinds == {"LEX", "HMMF", "HMMR", "FERF", "FERR"}
    assert "LEX\tthe\tde\t" in "\n".join(priors)  # lowercased words, the article's most common form


def gold_pairs_file(run: Path, out: Path) -> list[aer.Gold]:
    """The generated test split as `source ||| target` lines, plus one line that is not a pair."""
    pairs = [p for p in pq.read_table(run / "acquire" / "pairs.parquet").to_pylist() if p["split"] == "test"]
    out.write_text("".join(f"{p['src']} ||| {p['tgt']}\n" for p in pairs) + "no separator here\n")
    return aer.read_talp(run / "acquire" / "gold" / "test.talp")


def test_cli_align_statistical_with_priors_scores_new_pairs(aligned_run, tmp_path):
    run, _ = aligned_run
    gold = gold_pairs_file(run, tmp_path / "pairs.txt")
    (tmp_path / "gold.talp").write_text((run / "acquire" / "gold" / "test.talp").read_text() + "\n")
    args = [
        "align",
        "--model",
        str(run),
        "--pairs",
        str(tmp_path / "pairs.txt"),
        "--out",
        str(tmp_path / "o.txt"),
    ]
    result = CliRunner().invoke(
        app, [*args, "--method", "statistical", "--gold", str(tmp_path / "gold.talp")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["mode"], summary["symmetrization"], summary["errors"]) == (
        "priors",
        "intersection",
        1,
    )
    lines = (tmp_path / "o.txt").read_text().splitlines()
    assert len(lines) == len(gold) + 1 and lines[-1] == ""
    assert aer.score([parse_pharaoh(x) for x in lines[:-1]], gold).aer < 0.2
    assert summary["scores_by_method"]["intersection"]["aer"] < 0.2
    bad = CliRunner().invoke(app, [*args, "--method", "statistical", "--symmetrize", "both"])
    assert bad.exit_code == 2 and "--symmetrize 'both' is not one of" in bad.output


def test_cli_align_corpus_prints_the_summary(tmp_path):
    pytest.importorskip("eflomal")
    run = tmp_path / "run"
    run_acquire(
        AcquireConfig(source=GeneratedSource(sizes={"train": 60, "valid": 2, "test": 2})), run / "acquire"
    )
    result = CliRunner().invoke(app, ["align-corpus", "--run", str(run), "--iterations", "0.2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["pairs"] == 60 and summary["aligner"].startswith("eflomal 2")
    assert pq.read_table(run / "align" / "links.parquet").num_rows == 60
    missing = CliRunner().invoke(app, ["align-corpus", "--run", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "acquire" in missing.output


def test_without_eflomal_the_cli_says_how_to_install_it_and_exits_2(tmp_path):
    code = (
        # None in sys.modules: `import eflomal` raises ImportError
        "import sys; sys.modules['eflomal'] = None\n"
        "from nmt.cli import app\n"
        f"app(['align-corpus', '--run', {str(tmp_path)!r}])\n"
    )
    (tmp_path / "acquire").mkdir()
    (tmp_path / "acquire" / "pairs.parquet").write_bytes(b"")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and INSTALL in lines[0] and "eflomal" in lines[0], done.stderr
