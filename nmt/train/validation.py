"""Validation on the dev split: teacher-forced loss and BLEU of batched greedy output."""

from __future__ import annotations

import torch

from nmt.model.bahdanau import Seq2Seq
from nmt.model.batching import TokenData, make_batch, plan_sorted
from nmt.model.search import greedy, length_limit
from nmt.text.bleu_tokenizer import new_bleu
from nmt.text.tokenization import Tokenizer


class Validator:
    """Scores a model on dev data in batches of `batch_tokens` padded tokens."""

    def __init__(
        self,
        data: TokenData,
        tokenizer: Tokenizer,
        batch_tokens: int,
        device: torch.device,
        autocast: torch.autocast,
        tgt_lang: str | None = None,
    ):
        self.data, self.tokenizer, self.batch_tokens = data, tokenizer, batch_tokens
        self.bleu = new_bleu(tgt_lang)
        self.device, self.autocast = device, autocast
        self.references = tokenizer.decode_tgt([data.tgt(i).tolist() for i in range(len(data))])

    @torch.no_grad()
    def __call__(self, model: Seq2Seq) -> dict[str, float]:
        """Teacher-forced loss per target token and BLEU of batched greedy output on dev."""
        model = model.eval()
        loss_sum = torch.zeros((), device=self.device)
        tokens = 0
        hyps: list[list[int]] = [[] for _ in range(len(self.data))]
        for index in plan_sorted(self.data, self.batch_tokens):
            batch = make_batch(self.data, index).to(self.device)
            with self.autocast:
                loss, _, _ = model(batch.src, batch.src_len, batch.tgt_in, batch.tgt_out, align=False)
                outputs = greedy(model, batch.src, batch.src_len, length_limit(batch.src_len))
            loss_sum += loss
            tokens += batch.n_tgt_tokens
            for row, i in enumerate(index):
                hyps[i] = outputs[row][0].tokens
        bleu = self.bleu.corpus_score(self.tokenizer.decode_tgt(hyps), [self.references])
        return {"valid_loss": float(loss_sum) / max(tokens, 1), "valid_bleu": bleu.score}
