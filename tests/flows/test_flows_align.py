"""The align flow through Prefect: the stage's table and priors under <run>/align."""

import pyarrow.parquet as pq
import pytest

from flows.align import align
from nmt.align.corpus import AlignCorpusConfig
from nmt.align.statistical import StatisticalConfig
from nmt.data.acquire import AcquireConfig, GeneratedSource, run_acquire


def test_align_flow_writes_links_and_priors(tmp_path):
    pytest.importorskip("eflomal")
    run = tmp_path / "run"
    sizes = {"train": 80, "valid": 2, "test": 2}
    run_acquire(AcquireConfig(source=GeneratedSource(sizes=sizes)), run / "acquire")
    summary = align(run, AlignCorpusConfig(aligner=StatisticalConfig(iterations=0.2)))
    assert summary["pairs"] == 80
    table = pq.read_table(run / "align" / "links.parquet")
    assert table.num_rows == 80 and table.column("intersection").null_count == 0
    assert (run / "align" / "priors.txt").read_text(encoding="utf-8").startswith("LEX\t")
