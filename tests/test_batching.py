"""Token-budget batching: budget, coverage, determinism, special tokens, resumable positions."""

import numpy as np
import pytest

from nmt.core.vocab import BOS, EOS, PAD
from nmt.model.batching import (
    BatchStream,
    DataPosition,
    TokenData,
    make_batch,
    padded_sizes,
    plan_epoch,
    plan_sorted,
)


def random_data(n: int = 500, seed: int = 0) -> TokenData:
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, 50, rng.integers(1, 40)).tolist() for _ in range(n)]
    tgt = [rng.integers(4, 50, rng.integers(1, 40)).tolist() for _ in range(n)]
    return TokenData.from_lists(src, tgt)


@pytest.mark.parametrize("budget", [16, 200, 1000])
def test_epoch_respects_budget_and_covers_every_example_once(budget):
    data = random_data()
    sizes = padded_sizes(data)
    plan = plan_epoch(data, budget, seed=3, epoch=0, pool_size=128)
    for batch in plan:
        assert len(batch) == 1 or len(batch) * sizes[batch].max() <= budget
    covered = np.sort(np.concatenate(plan))
    assert np.array_equal(covered, np.arange(len(data)))


def test_plan_is_deterministic_per_seed_and_epoch():
    data = random_data()
    a = plan_epoch(data, 300, seed=1, epoch=2)
    b = plan_epoch(data, 300, seed=1, epoch=2)
    c = plan_epoch(data, 300, seed=1, epoch=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert [x.tolist() for x in a] != [x.tolist() for x in c]


def test_length_sorting_keeps_padding_low():
    rng = np.random.default_rng(0)
    src_lens = rng.integers(1, 40, 2000)
    tgt_lens = np.maximum(1, src_lens + rng.integers(-3, 4, 2000))  # correlated, like real text
    data = TokenData.from_lists([[7] * n for n in src_lens], [[7] * n for n in tgt_lens])
    plan = plan_epoch(data, 1000, seed=0, epoch=0)
    padded_tgt = sum(len(b) * (data.tgt_lens[b].max() + 1) for b in plan)
    assert padded_tgt / (data.tgt_lens + 1).sum() < 1.1
    random_plan = np.array_split(rng.permutation(len(data)), len(plan))
    padded_random = sum(len(b) * (data.tgt_lens[b].max() + 1) for b in random_plan)
    assert padded_random > 1.5 * padded_tgt


def test_make_batch_adds_special_tokens():
    data = TokenData.from_lists([[5, 6, 7], [8]], [[9], [10, 11]])
    batch = make_batch(data, np.array([0, 1]))
    assert batch.src.tolist() == [[5, 6, 7, EOS], [8, EOS, PAD, PAD]]
    assert batch.src_len.tolist() == [4, 2]
    assert batch.tgt_in.tolist() == [[BOS, 9, PAD], [BOS, 10, 11]]
    assert batch.tgt_out.tolist() == [[9, EOS, PAD], [10, 11, EOS]]
    assert batch.n_tgt_tokens == 5


def test_sorted_plan_covers_every_example():
    data = random_data(300)
    covered = np.sort(np.concatenate(plan_sorted(data, 400)))
    assert np.array_equal(covered, np.arange(len(data)))


def test_stream_resumes_from_a_saved_position():
    data = random_data(200)
    stream = BatchStream(data, 300, seed=5, group=2)
    run = stream.groups(DataPosition())
    steps = [next(run) for _ in range(40)]  # crosses epoch boundaries
    assert steps[-1][1].epoch >= 2
    saved = steps[16][1]
    resumed = BatchStream(data, 300, seed=5, group=2).groups(DataPosition.from_dict(saved.to_dict()))
    for group, pos in steps[17:]:
        group2, pos2 = next(resumed)
        assert pos == pos2
        assert all(np.array_equal(a, b) for a, b in zip(group, group2, strict=True))


def test_stream_groups_consecutive_batches_of_the_plan():
    data = random_data(200)
    stream = BatchStream(data, 300, seed=5, group=3)
    plan = stream.plan(0)
    seen = []
    for group, pos in stream.groups(DataPosition()):
        if pos.epoch > 0:
            seen.extend(group)
            break
        seen.extend(group)
    full = len(plan) // 3 * 3
    assert all(np.array_equal(a, b) for a, b in zip(seen, plan[:full], strict=True))
