"""The core of training: the model, its optimizer and schedule, the batch stream, and one step.

One optimizer step reads `accum_steps` token-budget batches on each of `world` processes (a
group of consecutive batches of the epoch's plan, see nmt.model.batching). The loss is the summed
token cross-entropy divided by the target tokens of the whole group, so a step gives the same
update whether the group runs in one process with accumulation or across DDP ranks.

Inside a step nothing waits for the device: token counts come from the host-side plan and the
summed loss is returned as a device tensor.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from nmt.core.device import resolve_device
from nmt.model.bahdanau import Seq2Seq, sequence_loss
from nmt.model.batching import BatchStream, make_batch
from nmt.text.tokenization import Tokenizer
from nmt.train.config import TrainConfig, build_optimizer
from nmt.train.data import sampled_epochs, token_arrays
from nmt.train.distributed import Distributed
from nmt.train.progress import Progress
from nmt.train.schedule import LRSchedule


class Trainer:
    """Holds the model, optimizer, schedule, training data and progress of one run on this rank."""

    def __init__(self, tokenize_dir: Path, cfg: TrainConfig, ddp: Distributed, cache_dir: Path):
        """Train on <tokenize_dir>'s TOKENS files, cached as mapped arrays in `cache_dir` (nmt.train.data)."""
        self.tokenize_dir, self.cfg, self.ddp = Path(tokenize_dir), cfg, ddp
        self.device = resolve_device(cfg.device, ddp.local_rank)
        if self.device.type == "cpu":
            torch.set_num_threads(cfg.num_threads or max(1, (os.cpu_count() or 1) // ddp.world))
        self.tokenizer = Tokenizer.load(self.tokenize_dir)
        self.train_data = token_arrays(self.tokenize_dir, "train", Path(cache_dir), ddp)

        torch.manual_seed(cfg.seed)
        self.model = Seq2Seq(
            cfg.architecture(), self.tokenizer.src_vocab_size, self.tokenizer.tgt_vocab_size
        ).to(self.device)
        self.train_model: torch.nn.Module = self.model
        if ddp.world > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=device_ids)
        if cfg.compile:
            self.train_model = torch.compile(self.train_model, dynamic=True)
        self.optimizer = build_optimizer(cfg, self.model.parameters())
        self.schedule = LRSchedule(
            self.optimizer,
            cfg.learning_rate(),
            cfg.warmup_steps,
            cfg.decay_factor,
            cfg.decay_patience,
            cfg.min_lr,
        )
        epoch_data = None
        if cfg.subword_sampling:
            load = functools.partial(token_arrays, self.tokenize_dir, cache_dir=Path(cache_dir), ddp=ddp)
            epoch_data = sampled_epochs(self.tokenize_dir, self.train_data, load)
        self.stream = BatchStream(
            self.train_data,
            cfg.batch_tokens,
            cfg.seed,
            group=ddp.world * cfg.accum_steps,
            epoch_data=epoch_data,
        )
        self.progress = Progress()
        self.autocast = torch.autocast(self.device.type, torch.bfloat16, enabled=cfg.bf16)

    def train_step(self, group: list[np.ndarray]) -> tuple[Tensor, int]:
        """One optimizer step on this rank's share of `group`: (summed loss tensor, its tokens)."""
        cfg, ddp = self.cfg, self.ddp
        mine = group[ddp.rank * cfg.accum_steps : (ddp.rank + 1) * cfg.accum_steps]
        group_tokens = sum(int(self.train_data.tgt_lens[i].sum()) + len(i) for i in group)
        self.train_model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        tokens = 0
        for k, index in enumerate(mine):
            batch = make_batch(self.train_data, index).to(self.device)
            last = k == len(mine) - 1
            sync = contextlib.nullcontext() if last or ddp.world == 1 else self._ddp_module().no_sync()
            with sync:
                with self.autocast:
                    logits, _ = self.train_model(batch.src, batch.src_len, batch.tgt_in)
                loss = sequence_loss(logits, batch.tgt_out, cfg.label_smoothing)  # summed
                # DDP averages gradients over ranks; scale so the step sees sum / group tokens.
                (loss * (ddp.world / group_tokens)).backward()
            loss_sum += loss.detach()
            tokens += batch.n_tgt_tokens
        if cfg.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
        self.optimizer.step()
        self.progress.step += 1
        self.progress.tokens += group_tokens
        self.schedule.step(self.progress.step)
        return loss_sum, tokens

    def _ddp_module(self) -> DistributedDataParallel:
        module = self.train_model
        return module._orig_mod if hasattr(module, "_orig_mod") else module
