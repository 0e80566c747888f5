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
import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from nmt.align.guidance import GuideLinks
from nmt.core.allocator import keep_freed_blocks
from nmt.core.cores import usable_cores
from nmt.core.device import resolve_device
from nmt.model.bahdanau import Seq2Seq
from nmt.model.batching import BatchStream, make_batch
from nmt.model.bf16_matmul import has_bf16_matrix_units
from nmt.model.guided import guide_targets, guided_alignment_loss
from nmt.text.tokenization import Tokenizer
from nmt.train.config import TrainConfig, build_optimizer
from nmt.train.data import sampled_epochs, target_pieces, token_arrays
from nmt.train.distributed import Distributed
from nmt.train.progress import Progress
from nmt.train.schedule import LRSchedule

logger = logging.getLogger(__name__)


class Trainer:
    """Holds the model, optimizer, schedule, training data and progress of one run on this rank."""

    def __init__(
        self,
        tokenize_dir: Path,
        cfg: TrainConfig,
        ddp: Distributed,
        cache_dir: Path,
        align_dir: Path | None = None,
    ):
        """Train on <tokenize_dir>'s TOKENS files, mapped from `cache_dir`; guided by `align_dir`'s links."""
        self.tokenize_dir, self.cfg, self.ddp = Path(tokenize_dir), cfg, ddp
        self.device = resolve_device(cfg.device, ddp.local_rank)
        keep_freed_blocks()
        if self.device.type == "cpu":
            torch.set_num_threads(cfg.num_threads or max(1, usable_cores() // ddp.world))
        self.tokenizer = Tokenizer.load(self.tokenize_dir)
        self.train_data = token_arrays(self.tokenize_dir, "train", Path(cache_dir), ddp)

        torch.manual_seed(cfg.seed)
        arch, tgt_vocab = cfg.architecture(), self.tokenizer.tgt_vocab_size
        output_ids = None
        if cfg.output_vocabulary == "target" and not (arch.tie_embeddings or cfg.subword_sampling):
            output_ids = torch.from_numpy(target_pieces(self.train_data, tgt_vocab))
        self.model = Seq2Seq(arch, self.tokenizer.src_vocab_size, tgt_vocab, output_ids).to(self.device)
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
        self.guide, self.guide_off = guidance(cfg, align_dir)
        if self.guide is None and self.model.align_head is not None:
            raise ValueError(
                f"the alignment head (model.align_head) trains on the align stage's links: {self.guide_off}"
            )
        self.progress = Progress()
        # bf16 on CUDA: autocast. On a CPU: the decoder loop's and output layer's products in bf16, the
        # rest fp32 (nmt.model.bf16_matmul), a gain only where the CPU has bf16 matrix units.
        cpu = self.device.type == "cpu"
        self.autocast = torch.autocast(self.device.type, torch.bfloat16, enabled=cfg.bf16 and not cpu)
        self.matmul_dtype = torch.bfloat16 if cfg.bf16 and cpu else None
        if self.matmul_dtype is not None and not has_bf16_matrix_units():
            logger.warning("bf16: this CPU has no bf16 matrix units (AMX): its products run slower than fp32")

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
                    loss, attn, aligned = self.train_model(  # loss: summed over the target tokens
                        batch.src,
                        batch.src_len,
                        batch.tgt_in,
                        batch.tgt_out,
                        cfg.label_smoothing,
                        matmul_dtype=self.matmul_dtype,
                    )
                objective = loss
                if self.guide is not None:
                    pairs = self.train_data.ids[batch.index]  # [B] pair ids of the rows
                    target = guide_targets(self.guide, pairs, attn.size(1), attn.size(2))  # [B,T,S]
                    if cfg.guided_alignment:
                        objective = objective + cfg.guided_alignment * guided_alignment_loss(attn, target)
                    if aligned is not None:  # the head's inputs are detached: only the head learns from it
                        objective = objective + guided_alignment_loss(aligned, target)
                # DDP averages gradients over ranks; scale so the step sees sum / group tokens.
                (objective * (ddp.world / group_tokens)).backward()
            loss_sum += loss.detach()
            tokens += batch.n_tgt_tokens
        if cfg.clip is not None:  # the alignment head apart: its loss never scales the translation's step
            for params in self.model.parameter_groups():
                torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        self.optimizer.step()
        self.progress.step += 1
        self.progress.tokens += group_tokens
        self.schedule.step(self.progress.step)
        return loss_sum, tokens

    def guidance_summary(self) -> dict:
        """How training used the statistical links: weight, links column and pairs, or why not."""
        if self.guide is None:
            return {"weight": 0.0, "off": self.guide_off}
        return {
            "weight": self.cfg.guided_alignment,
            "links": self.cfg.guided_links,
            "pairs": len(self.guide),
            "align_head": self.model.align_head is not None,
        }

    def _ddp_module(self) -> DistributedDataParallel:
        module = self.train_model
        return module._orig_mod if hasattr(module, "_orig_mod") else module


def guidance(cfg: TrainConfig, align_dir: Path | None) -> tuple[GuideLinks | None, str | None]:
    """The statistical links that guide the attention or train the alignment head, or None and why not."""
    if cfg.guided_alignment == 0 and not cfg.architecture().align_head:
        return None, "guided_alignment is 0"
    if cfg.subword_sampling:
        return None, "subword sampling: the links map to train.parquet's pieces only"
    if align_dir is None or not (Path(align_dir) / "pieces.parquet").exists():
        return None, "no align stage output (<run>/align/pieces.parquet)"
    guide = GuideLinks.read(Path(align_dir), cfg.guided_links)
    head = "; they train the alignment head" if cfg.architecture().align_head else ""
    logger.info("guided alignment: weight %g, %s links%s", cfg.guided_alignment, cfg.guided_links, head)
    return guide, None
