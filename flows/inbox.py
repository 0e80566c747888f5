"""The inbox flow: translate new files of an inbox folder with the pair's current model."""

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact

from flows.gpu import gpu_slot
from nmt.model.search import DECODE_DEFAULTS
from nmt.ops.inbox import InboxConfig, check_model, claim, file_results, summarize, translate_batch
from nmt.ops.summaries import inbox_line, inbox_markdown


@task(name="claim-inbox-files")
def claim_task(cfg: InboxConfig, batch: str) -> list[Path]:
    """Check that the pair has a current model, then claim the settled files of the inbox."""
    check_model(cfg)
    return claim(cfg, batch)


@task(name="translate-inbox-batch", retries=1, retry_delay_seconds=10)
def translate_task(cfg: InboxConfig, batch: str, files: list[Path]) -> dict:
    """Translate the claimed files (a retry skips the finished shards)."""
    with gpu_slot(cfg.translate.device):
        return translate_batch(cfg, batch, files)


@task(name="file-inbox-results")
def file_task(cfg: InboxConfig, batch: str, files: list[Path]) -> dict:
    """Publish the translations and move each input to done/ or failed/."""
    return file_results(cfg, batch, files)


def _batch_id() -> str:
    """The batch of this flow run: its scheduled time and id, the same on a retry of the run."""
    start = runtime.flow_run.scheduled_start_time.astimezone(dt.timezone.utc)
    return f"{start.strftime('%Y%m%dT%H%M%SZ')}-{runtime.flow_run.id[:8]}"


@flow(name="inbox", flow_run_name="inbox {pair} {inbox}")
def inbox(
    inbox: str = "data/inbox",
    pair: str = "en-xx",
    outbox: str | None = None,
    registry: str | None = None,
    settle_seconds: float = 30.0,
    max_files: int | None = None,
    beam: int = DECODE_DEFAULTS.beam,
    device: str = "auto",
) -> dict:
    """Translate the settled files of `inbox` once each; outputs to the outbox, inputs to done/ or failed/."""
    cfg = InboxConfig.from_options(
        inbox=inbox,
        outbox=outbox,
        pair=pair,
        registry=registry,
        settle_seconds=settle_seconds,
        max_files=max_files,
        beam=beam,
        device=device,
    )
    batch = _batch_id()
    files = claim_task(cfg, batch)
    if files:
        translate_task(cfg, batch, files)
        summary = file_task(cfg, batch, files)
        create_markdown_artifact(inbox_markdown(summary), key="inbox-report")
    else:
        summary = summarize(cfg, batch, [], None)
    get_run_logger().info(inbox_line(summary))
    return summary
