"""Inbox translation: claims by rename, settling, filing into done/ and failed/, overlapping runs."""

import os
import threading
import time
from collections import Counter

import pyarrow.parquet as pq
import pytest
from registry_fixtures import PAIR, make_registrable_run, registry_with_current
from translate_fixtures import sentences
from typer.testing import CliRunner

from nmt.cli import app
from nmt.ops.inbox import InboxConfig, claim, run_inbox
from nmt.translate.config import TranslateConfig

HOUR_AGO = time.time() - 3600


def drop(inbox, name, data: bytes, settled: bool = True):
    """Write a file into the inbox; a settled one looks unmodified for an hour."""
    path = inbox / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if settled:
        os.utime(path, (HOUR_AGO, HOUR_AGO))
    return path


def document(seed: int, paragraphs: int = 2, per_paragraph: int = 3) -> str:
    """A document of `paragraphs` paragraphs of test sentences."""
    s = sentences(paragraphs * per_paragraph, seed=seed)
    return "\n\n".join(" ".join(s[p * per_paragraph : (p + 1) * per_paragraph]) for p in range(paragraphs))


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("inbox-registry")
    return registry_with_current(root / "registry", make_registrable_run(root / "run")).root


def config(tmp_path, registry, **kw) -> InboxConfig:
    return InboxConfig(
        inbox=tmp_path / "inbox",
        pair=PAIR,
        registry=registry,
        translate=TranslateConfig(beam=1, progress=False),
        **kw,
    )


def test_two_runs_claiming_at_once_never_take_the_same_file(tmp_path, registry):
    cfg = config(tmp_path, registry)
    names = {f"doc-{i:03d}.txt" for i in range(60)}
    for name in names:
        drop(cfg.inbox, name, b"Ein mann.\n")
    start = threading.Barrier(2)
    claimed: dict[str, list] = {}

    def take(batch):
        start.wait()
        claimed[batch] = claim(cfg, batch)

    threads = [threading.Thread(target=take, args=(b,)) for b in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = ({p.name for p in claimed[k]} for k in ("a", "b"))
    assert not a & b and a | b == names
    assert all(p.parent == cfg.batch_dir(k) for k in claimed for p in claimed[k])


def test_files_still_being_written_hidden_or_temporary_are_not_taken(tmp_path, registry):
    cfg = config(tmp_path, registry, settle_seconds=60)
    drop(cfg.inbox, "ready.txt", b"Ein mann.\n")
    drop(cfg.inbox, "writing.txt", b"Ein ma", settled=False)
    drop(cfg.inbox, ".hidden.txt", b"Ein mann.\n")
    drop(cfg.inbox, "upload.txt.part", b"Ein mann.\n")
    assert [p.name for p in claim(cfg, "b1")] == ["ready.txt"]
    assert sorted(os.listdir(cfg.inbox)) == [".hidden.txt", "processing", "upload.txt.part", "writing.txt"]


def test_inbox_translates_files_out_and_files_inputs_in_done_or_failed(tmp_path, registry):
    cfg = config(tmp_path, registry)
    docs = {"a.txt": document(1), "b.md": "# Title\n\n" + document(2)}
    for name, text in docs.items():
        drop(cfg.inbox, name, text.encode())
    drop(cfg.inbox, "bad.txt", b"Ein mann \xff\xfe l\xe4uft.\n")
    drop(cfg.inbox, "late.txt", b"Ein mann.\n", settled=False)

    summary = run_inbox(cfg, batch="b1")

    outbox = cfg.outbox_dir()
    assert outbox == tmp_path / "outbox"
    assert {f["name"]: f["status"] for f in summary["files"]} == {
        "a.txt": "done",
        "b.md": "done",
        "bad.txt": "failed",
    }
    assert (summary["done"], summary["failed"], summary["waiting"]) == (2, 1, 1)  # late.txt settles
    for name, text in docs.items():
        translated = (outbox / name).read_text(encoding="utf-8")
        assert translated.strip() and translated.count("\n\n") == text.count("\n\n")
        assert (cfg.inbox / "done" / name).read_text(encoding="utf-8") == text
    assert (cfg.inbox / "failed" / "bad.txt").exists()
    assert (cfg.inbox / "failed" / "bad.txt.reason.txt").read_text().startswith("invalid_utf8:")
    assert sorted(os.listdir(cfg.inbox)) == ["done", "failed", "late.txt", "processing"]
    assert not os.listdir(cfg.inbox / "processing")
    job = cfg.job_dir("b1")
    translations = pq.read_table(job / "translations.parquet")
    assert Counter(translations["doc_id"].to_pylist()) == {"a.txt": 6, "b.md": 7}  # + the heading
    assert summary["sentences"] == translations.num_rows == 13
    assert pq.read_table(job / "errors.parquet")["doc_id"].to_pylist() == ["bad.txt"]


def test_overlapping_runs_translate_each_file_exactly_once(tmp_path, registry):
    cfg = config(tmp_path, registry)
    names = [f"doc-{i}.txt" for i in range(8)]
    for i, name in enumerate(names):
        drop(cfg.inbox, name, document(10 + i, paragraphs=1).encode())
    start = threading.Barrier(2)
    summaries = {}

    def run(batch):
        start.wait()
        summaries[batch] = run_inbox(cfg, batch=batch)

    threads = [threading.Thread(target=run, args=(b,)) for b in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [f["name"] for s in summaries.values() for f in s["files"]]
    assert sorted(done) == names
    jobs = [cfg.job_dir(b) for b in summaries if (cfg.job_dir(b) / "translations.parquet").exists()]
    doc_ids = [d for job in jobs for d in pq.read_table(job / "translations.parquet")["doc_id"].to_pylist()]
    assert Counter(doc_ids) == dict.fromkeys(names, 3)
    assert sorted(os.listdir(cfg.inbox / "done")) == names


def test_a_rerun_of_the_same_batch_resumes_its_claimed_files(tmp_path, registry):
    cfg = config(tmp_path, registry)
    drop(cfg.inbox, "a.txt", document(3).encode())
    assert [p.name for p in claim(cfg, "b1")] == ["a.txt"]  # the run stopped after claiming
    drop(cfg.inbox, "b.txt", document(4).encode())
    first = run_inbox(cfg, batch="b1")
    assert [f["name"] for f in first["files"]] == ["a.txt"]
    assert [f["name"] for f in run_inbox(cfg, batch="b2")["files"]] == ["b.txt"]


def test_without_a_current_model_nothing_is_claimed(tmp_path):
    cfg = InboxConfig(inbox=tmp_path / "inbox", pair="de-en", registry=tmp_path / "empty")
    drop(cfg.inbox, "a.txt", b"Ein mann.\n")
    with pytest.raises(LookupError, match="no current model for de-en"):
        run_inbox(cfg)
    assert os.listdir(cfg.inbox) == ["a.txt"]


def test_nmt_inbox_command_prints_the_one_line_summary(tmp_path, registry):
    drop(tmp_path / "inbox", "a.txt", document(5).encode())
    args = ["inbox", "--inbox", str(tmp_path / "inbox"), "--pair", PAIR, "--registry", str(registry)]
    result = CliRunner().invoke(app, [*args, "--beam", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"inbox {PAIR} {tmp_path / 'inbox'}: 1 file(s), 1 done, 0 failed, 6 sentences"
    )
    assert (tmp_path / "outbox" / "a.txt").exists()


def test_nmt_inbox_without_a_current_model_is_a_usage_error(tmp_path):
    drop(tmp_path / "inbox", "a.txt", b"Ein mann.\n")
    args = [
        "inbox",
        "--inbox",
        str(tmp_path / "inbox"),
        "--pair",
        "de-en",
        "--registry",
        str(tmp_path / "none"),
    ]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "500"})
    assert result.exit_code == 2
    assert "Invalid value for --pair: no current model for de-en" in result.output
    assert os.listdir(tmp_path / "inbox") == ["a.txt"]
