"""Pipeline settings from the few parameters a deployment exposes: corpus, pair, preset, time budget."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, get_args

from nmt.data.acquire import AcquireConfig, CatalogueSource, DirectorySource, GeneratedSource
from nmt.ops.registry import parse_pair
from nmt.pipeline import PipelineConfig
from nmt.text.tokenization import TokenizeConfig
from nmt.train.config import TrainConfig

GENERATED_PAIR = "en-xx"  # the languages of nmt.data.synthetic
CATALOGUE = get_args(CatalogueSource.model_fields["corpus"].annotation)


def source_for(corpus: str, pair: str) -> GeneratedSource | CatalogueSource | DirectorySource:
    """A corpus name as a source: "generated", multi30k, tatoeba, or a folder/URL of <split>.<lang> files."""
    src, tgt = parse_pair(pair)
    if corpus == "generated":
        if pair != GENERATED_PAIR:
            raise ValueError(f"the generated corpus is {GENERATED_PAIR}, not {pair}")
        return GeneratedSource()
    if corpus in CATALOGUE:
        return CatalogueSource(corpus=corpus, src_lang=src, tgt_lang=tgt)
    return DirectorySource(location=corpus, src_lang=src, tgt_lang=tgt)


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if nested else value
    return out


def pipeline_config(
    corpus: str,
    pair: str,
    preset: str,
    max_minutes: float,
    run_root: str | Path = "data/runs",
    overrides: dict[str, Any] | None = None,
) -> PipelineConfig:
    """A PipelineConfig for one corpus and pair, trained for at most `max_minutes`.

    The run is named <corpus>-<pair>-<UTC time>. `overrides` holds any PipelineConfig fields,
    merged key by key over these settings (e.g. {"tokenize": {"vocab_size": 2000}}).
    """
    source = source_for(corpus, pair)
    name = corpus if source.kind != "directory" else Path(corpus.rstrip("/")).name or "corpus"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    cfg = PipelineConfig(
        run_root=Path(run_root),
        run_name=f"{name}-{pair}-{stamp}",
        acquire=AcquireConfig(source=source),
        tokenize=TokenizeConfig(model_type="bpe", vocab_size=2000)
        if source.kind == "generated"
        else TokenizeConfig(),
        train=TrainConfig(preset=preset, max_minutes=max_minutes, max_epochs=None),
    )
    return PipelineConfig.model_validate(_merge(cfg.model_dump(), overrides or {}))


def describe(cfg: PipelineConfig) -> str:
    """A few words saying what a pipeline config trains, for run names: corpus, pair, preset, budget."""
    source = cfg.acquire.source
    corpus = getattr(source, "corpus", None) or source.kind
    src, tgt = getattr(source, "src_lang", None), getattr(source, "tgt_lang", None)
    pair = f"{src}-{tgt}" if src and tgt else (GENERATED_PAIR if source.kind == "generated" else "")
    budget = ""
    if cfg.train.max_minutes:
        budget = f"{cfg.train.max_minutes:g}min"
    elif cfg.train.max_steps:
        budget = f"{cfg.train.max_steps} steps"
    return " ".join(x for x in (corpus, pair, cfg.train.preset, budget) if x)
