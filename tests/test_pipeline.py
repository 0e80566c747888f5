"""The stage chain without Prefect: report, scoring, the CLI on a trained run."""

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import torch
from run_fixtures import SMALL_TRAINING

from nmt import report
from nmt.align.links import word_index
from nmt.core.rundir import RunDir
from nmt.core.schema import TRANSLATIONS
from nmt.evaluate.scores import EvaluateConfig, score
from nmt.model.bahdanau import Seq2Seq
from nmt.model.search import DecodeConfig
from nmt.pipeline import evaluate_stage, write_sample_documents
from nmt.text.tokenization import Tokenizer
from nmt.translate.translator import Translator


def nmt_cli(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m nmt ARGS` and return the finished process (error boxes unwrapped)."""
    env = {**os.environ, "COLUMNS": "500"}
    return subprocess.run(
        [sys.executable, "-m", "nmt", *args], capture_output=True, text=True, timeout=600, env=env
    )


def test_report_merges_stage_summaries(tmp_path):
    report.record(tmp_path, "acquire", {"pairs_total": 3, "counts": {"train": 3}})
    merged = report.record(tmp_path, "evaluate", {"scores": {"test": {"bleu": 50.0}}})
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk == merged
    assert on_disk["stages"]["acquire"]["pairs_total"] == 3
    assert on_disk["scores"] == {"test": {"bleu": 50.0}}
    assert on_disk["run_dir"] == str(tmp_path)
    with pytest.raises(ValueError, match="unknown stage 'bogus'"):
        report.record(tmp_path, "bogus", {})


def test_score_is_sacrebleu_bleu_and_chrf():
    perfect = score(["the cat sat on the mat ."], ["the cat sat on the mat ."])
    assert perfect["bleu"] == 100.0 and perfect["chrf"] == 100.0
    worse = score(["the cat sat on a hat ."], ["the cat sat on the mat ."])
    assert 0 < worse["bleu"] < 100 and 0 < worse["chrf"] < 100
    assert worse["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")


@pytest.mark.slow
def test_run_pipeline_records_every_stage(pipeline_report):
    stages = pipeline_report["stages"]
    assert list(stages) == ["acquire", "tokenize", "align", "train", "evaluate", "translate"]
    assert stages["align"]["pieces"] == {"pairs": 3000, "mismatched": 0}
    assert stages["train"]["guided_alignment"]["pairs"] == 3000
    assert stages["train"]["guided_alignment"]["align_head"] is True
    assert stages["acquire"]["counts"] == {"train": 3000, "valid": 100, "test": 100}
    assert stages["train"]["steps"] == 300 and stages["train"]["stopped"] == "max_steps"
    assert stages["translate"]["sentences"] == 36 and stages["translate"]["errors"] == 0
    assert pipeline_report["scores"]["test"]["sentences"] == 100
    job = RunDir(pipeline_report["run_dir"]).translate_job("sample")
    alignments = pq.read_table(job / "alignments.parquet")
    for row in alignments.to_pylist():  # eflomal is installed here: the run has an aligner
        links = [tuple(map(int, x.split("-"))) for x in row["statistical_links"].split()]
        assert all(i < len(row["src_words"]) and j < len(row["tgt_words"]) for i, j in links)
    assert sum(len(r.split()) for r in alignments["statistical_links"].to_pylist()) > 36 * 5
    for row in alignments.to_pylist():  # the model's alignment head: one link per output word
        head = [tuple(map(int, x.split("-"))) for x in row["head_links"].split()]
        assert {j for _, j in head} == set(word_index(row["tgt_tokens"][:-1]))
        assert {i for i, _ in head} <= set(word_index(row["src_tokens"][:-1]))
    alignment = pipeline_report["stages"]["evaluate"]["alignment"]["test"]
    assert alignment["head"]["sentences"] == 100 and 0 <= alignment["head"]["aer"] < alignment["diagonal_aer"]
    text = report.to_text(pipeline_report)
    assert "BLEU" in text and "36 sentences" in text and "report.json" in text
    assert f"alignment head AER {alignment['head']['aer']:.3f}" in text


@pytest.mark.slow
def test_trained_model_beats_an_untrained_one(trained_run):
    summary = evaluate_stage(trained_run, EvaluateConfig(beams=[1], device="cpu"))
    trained_bleu = summary["scores"]["test"]["bleu"]
    hyps = (RunDir(trained_run).evaluate / "test.greedy.hyp.txt").read_text().splitlines()
    assert len(hyps) == 100
    tokenizer = Tokenizer.load(RunDir(trained_run).tokenize)
    torch.manual_seed(0)
    arch = SMALL_TRAINING.architecture()
    untrained = Seq2Seq(arch, tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    pairs = pq.read_table(RunDir(trained_run).acquire / "pairs.parquet").to_pylist()
    test = [p for p in pairs if p["split"] == "test"]
    greedy = DecodeConfig(beam=1)
    baseline = Translator(untrained, tokenizer, "untrained").translate([p["src"] for p in test], greedy)
    untrained_bleu = score([r.translation for r in baseline], [p["tgt"] for p in test])["bleu"]
    assert untrained_bleu < 2.0
    assert trained_bleu > untrained_bleu + 20
    assert report.load(trained_run)["scores"]["test"]["bleu"] == trained_bleu


@pytest.mark.slow
def test_cli_translates_documents_with_one_row_per_sentence(trained_run, tmp_path):
    docs = write_sample_documents(trained_run)  # 3 documents x 3 paragraphs x 4 sentences
    out = tmp_path / "out"
    done = nmt_cli("translate", str(docs), "--model", str(trained_run), "--out", str(out), "--beam", "2")
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out / "translations.parquet")
    assert table.num_rows == 36
    assert table.schema.remove_metadata().equals(TRANSLATIONS.remove_metadata())
    names = sorted(p.name for p in (out / "docs").rglob("*.txt"))
    assert names == ["document-1.txt", "document-2.txt", "document-3.txt"]
    translated = (out / "docs" / "document-1.txt").read_text()
    assert translated.count("\n\n") == 2  # three paragraphs kept
    shown = nmt_cli("show", str(trained_run))
    assert shown.returncode == 0 and "train" in shown.stdout and "report.json" in shown.stdout


def test_cli_reports_a_missing_run_clearly(tmp_path):
    done = nmt_cli("show", str(tmp_path / "nowhere"))
    assert done.returncode != 0
    assert "report.json does not exist" in done.stderr
