"""The settings of a translation job: decoding (nmt.model.search.DecodeConfig) plus the job's I/O."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nmt.core.device import DeviceName
from nmt.core.rundir import run_languages
from nmt.model.search import DecodeConfig, nest_decoding


class TranslateConfig(BaseModel):
    """Settings of a translation job: its decoding, and where and how it reads and runs."""

    model_config = ConfigDict(extra="forbid")

    decode: DecodeConfig = Field(default_factory=DecodeConfig, description="how sentences are decoded")
    device: DeviceName = Field(
        "cpu", description='torch device (cpu, cuda, cuda:1, ...); "auto": CUDA if present'
    )
    source_lang: str | None = Field(
        None,
        description="language of the inputs, for sentence splitting (nmt.text.splitting); "
        "None: the model's source language (its run's acquire manifest or report), else unknown",
    )
    statistical_links: bool = Field(
        False,
        description="add the run's statistical word links (eflomal, its priors) to alignments.parquet; "
        "eflomal samples without a seed, so this column may differ between runs (the rest cannot)",
    )
    threads: int | None = Field(
        None, gt=0, description="torch CPU threads (set for the whole process); None: torch's default"
    )
    shard_bytes: int = Field(
        250_000, gt=0, description="input bytes per shard (about 2-3k sentences); documents are never split"
    )
    max_sentence_chars: int = Field(
        2000, gt=0, description="longer sentences are kept untranslated and reported as errors"
    )
    id_column: str = Field("id", description="JSONL/Parquet inputs: the record id column")
    text_column: str = Field("text", description="JSONL/Parquet inputs: the text column")
    job_id: str | None = Field(None, description="default: the output folder's name")
    progress: bool = Field(True, description="show a tqdm progress bar")

    _flat_decoding = model_validator(mode="before")(nest_decoding)  # beam=5 means decode.beam=5


def with_source_lang(cfg: TranslateConfig, model_dir: Path | None) -> TranslateConfig:
    """`cfg` with source_lang set to the model's source language where it is None and known."""
    if cfg.source_lang is not None or model_dir is None:
        return cfg
    src, _ = run_languages(Path(model_dir))
    return cfg.model_copy(update={"source_lang": src}) if src else cfg
