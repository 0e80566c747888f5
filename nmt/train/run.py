"""The train stage: fit a Seq2Seq on the token shards, validate, checkpoint, resume.

The room's modules, one job each: config (TrainConfig), trainer (model, optimizer, one step),
validation (dev loss and BLEU), state (checkpoints and resume), loop (the steps, validation,
summary), progress (counters), distributed (torchrun ranks), data (the sampled copies),
schedule (learning rate). This module wires them: `run_train` and `python -m nmt.train`.

A rerun with the same out_dir resumes from checkpoints/last.pt and ends with the same
parameters as an uninterrupted run (CPU, same number of threads).

Started by torchrun (WORLD_SIZE > 1) it trains with DistributedDataParallel: gloo on CPU,
nccl on CUDA; rank 0 validates and writes files, and its decisions are broadcast:

    torchrun --standalone --nproc-per-node 2 -m nmt.train TOKENIZE_DIR OUT_DIR --config cfg.json

Speed options: `bf16` autocasts to bfloat16 on CUDA, and on a CPU multiplies the decoder's and output
layer's matrices in bfloat16 with everything else fp32 (nmt.model.bf16_matmul: 3-7x faster products on
CPUs with AMX, slower on those without); `compile` wraps the model in
torch.compile, which compiles once per target length (the decoder loop is unrolled), so it
pays off only on long runs.

Subword regularization (`subword_sampling=True`, off by default): epoch e trains on
`sampled/train-<e % K>.parquet` of the tokenize directory instead of train.parquet, K subword-
sampled segmentations of the same train rows (same ids, same order). Turn it on by tokenizing
with `TokenizeConfig(sampled_copies=K)` (K >= 1; alpha/nbest in sampling_alpha/sampling_nbest)
and training with `TrainConfig(subword_sampling=True)`; training refuses to start, naming the
folder, when the copies are missing. Validation keeps the best segmentation (valid.parquet).
Resume stays exact: an epoch's copy and plan follow from the saved (epoch, batch) position.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nmt.core.atomic import write_json
from nmt.core.lock import locks_folder
from nmt.train.config import TrainConfig
from nmt.train.data import TOKENS_CACHE
from nmt.train.distributed import Distributed, process_group
from nmt.train.loop import Loop
from nmt.train.state import resume_state, trim_metrics
from nmt.train.trainer import Trainer


@locks_folder("train", wait=False, when=lambda: Distributed.from_env().main)
def run_train(
    tokenize_dir: Path,
    cfg: TrainConfig,
    out_dir: Path,
    on_validation: Callable[[dict[str, Any]], None] | None = None,
    align_dir: Path | None = None,
) -> dict[str, Any]:
    """Train (or resume training) into out_dir; return the summary (see nmt.train.loop).

    `on_validation` receives each metrics.jsonl record as it is written (rank 0 only);
    `align_dir` holds the align stage's links that guide the attention (guided_alignment > 0).
    """
    tokenize_dir, out_dir = Path(tokenize_dir), Path(out_dir)
    ddp = Distributed.from_env()
    with process_group(ddp, cfg.device):
        trainer = Trainer(tokenize_dir, cfg, ddp, out_dir / TOKENS_CACHE, align_dir)
        loop = Loop(trainer, out_dir, on_validation)
        last = loop.checkpoints / "last.pt"
        if last.exists():
            resume_state(trainer, last)
            if ddp.main:
                trim_metrics(loop.metrics_path, trainer.progress.step)
        if ddp.main:
            write_json(
                out_dir / "config.json",
                {
                    **cfg.model_dump(),
                    "resolved_model": trainer.model.cfg.model_dump(),
                    "src_vocab": trainer.model.src_vocab,
                    "tgt_vocab": trainer.model.tgt_vocab,
                    "output_vocab": trainer.model.output.out_features,
                    "tokenizer_sha256": trainer.tokenizer.sha256,
                    "world_size": ddp.world,
                },
            )
        return loop.run()


def main(argv: list[str] | None = None) -> None:
    """`python -m nmt.train` (or `torchrun ... -m nmt.train`): train with a JSON TrainConfig."""
    parser = argparse.ArgumentParser(prog="python -m nmt.train", description=main.__doc__)
    parser.add_argument("tokenize_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--config", type=Path, help="TrainConfig as JSON (default: defaults)")
    parser.add_argument("--align-dir", type=Path, help="the align stage's folder (guided alignment)")
    parser.add_argument("--max-minutes", type=float, help="time budget (overrides the config)")
    parser.add_argument("--max-steps", type=int, help="step limit (overrides the config)")
    args = parser.parse_args(argv)
    cfg = TrainConfig.model_validate_json(args.config.read_text()) if args.config else TrainConfig()
    overrides = {"max_minutes": args.max_minutes, "max_steps": args.max_steps}
    cfg = TrainConfig.model_validate(
        {**cfg.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    summary = run_train(args.tokenize_dir, cfg, args.out_dir, align_dir=args.align_dir)
    if Distributed.from_env().main:
        print(json.dumps(summary, indent=2))
