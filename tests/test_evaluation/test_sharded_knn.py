"""Sharded weighted kNN (each process keeps part of the memory bank) equals
the kNN over the gathered bank exactly: 2 and 3 gloo processes with uneven
shards, exact ties in similarity, k larger than a shard and than the bank."""
import math

import pytest
import torch

from mte_mm.evaluation import (knn_accuracy, normalise, sharded_knn_accuracy,
                               top_neighbours)

from ..conftest import run_gloo_workers

KS = (1, 3, 5, 8, 40)


def tied_data(seed=0):
    """A bank of 23 rows on a coarse grid (many equal similarities) with
    exact duplicates under different labels, and 17 queries."""
    g = torch.Generator().manual_seed(seed)
    bank = torch.randint(-2, 3, (23, 4), generator=g).float()
    bank[5] = bank[17] = bank[2]  # the same direction, three labels
    bank[bank.abs().sum(1) == 0] = 1.0
    labels = torch.randint(0, 3, (23, ), generator=g)
    labels[2], labels[5], labels[17] = 0, 1, 2
    queries = torch.randint(-2, 3, (17, 4), generator=g).float()
    queries[queries.abs().sum(1) == 0] = 1.0
    queries[0] = bank[2]
    query_labels = torch.randint(0, 3, (17, ), generator=g)
    return bank, labels, queries, query_labels


def brute_force_accuracy(bank, labels, queries, query_labels, k, t=0.07,
                         lower_index_first=True):
    """Loop by loop: neighbours by (similarity, lower index), votes summed
    in that order, in float64, from the float16 normalised features."""
    b, q = normalise(bank).double(), normalise(queries).double()
    correct = 0
    for qi, truth in zip(q, query_labels):
        sims = [(float(sum(float(x) * float(y) for x, y in zip(qi, row))), i)
                for i, row in enumerate(b)]
        sims.sort(key=lambda s: (-s[0], s[1] if lower_index_first
                                 else -s[1]))
        scores = [0.0] * 3
        for sim, i in sims[:k]:
            scores[int(labels[i])] += math.exp(sim / t)
        correct += max(range(3), key=lambda c: (scores[c], -c)) == int(truth)
    return 100.0 * correct / len(queries)


def test_ties_are_broken_by_the_lower_index():
    bank, _, queries, _ = tied_data()
    b, q = normalise(bank), normalise(queries)
    sims, positions = top_neighbours(q[:1], b, torch.arange(23), 3)
    assert positions[0].tolist() == [2, 5, 17]  # equal similarity 1
    assert sims[0, 0] == sims[0, 2]


def test_whole_bank_equals_brute_force():
    data = tied_data()
    got = knn_accuracy(*data[:2], *data[2:], ks=KS, dtype=torch.float16)
    for k in KS:
        assert got[k] == pytest.approx(
            brute_force_accuracy(*data, min(k, 23)), abs=1e-9)


def _sharded(rank, world_size):
    bank, labels, queries, query_labels = tied_data()
    index = torch.arange(rank, 23, world_size)  # uneven shards
    return sharded_knn_accuracy(normalise(bank[index]), labels[index], index,
                                normalise(queries), query_labels, ks=KS,
                                chunk_size=5)


@pytest.mark.parametrize('world_size', [2, 3])
def test_sharded_equals_gathered_exactly(world_size):
    data = tied_data()
    gathered = knn_accuracy(*data[:2], *data[2:], ks=KS, chunk_size=5,
                            dtype=torch.float16)
    results = run_gloo_workers(_sharded, world_size, world_size=world_size)
    for rank in range(world_size):
        assert results[rank] == gathered
    # the ties matter: the other tie rule changes some k's accuracy
    assert any(brute_force_accuracy(*data, k, lower_index_first=False)
               != gathered[k] for k in KS)


def test_bad_shard_inputs_are_named():
    bank, labels, queries, query_labels = tied_data()
    with pytest.raises(ValueError, match='23 rows, 22 labels'):
        sharded_knn_accuracy(normalise(bank), labels[:22], torch.arange(23),
                             normalise(queries), query_labels)
    with pytest.raises(ValueError, match='increasing'):
        sharded_knn_accuracy(normalise(bank), labels,
                             torch.arange(23).flip(0), normalise(queries),
                             query_labels)
