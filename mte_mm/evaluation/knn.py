"""Weighted k-nearest-neighbour classification of frozen features, the DINO
protocol (Caron et al., ICCV 2021; Wu et al., 2018): L2-normalised features,
the k most cosine-similar training samples vote with weight exp(sim / T).

The memory bank can stay sharded over processes (:func:`sharded_knn_accuracy`):
every process searches its shard for every query, and the candidates are
merged. The result equals the search over the whole bank exactly:

* neighbours are ordered by similarity, ties by the lower bank index, so the
  k chosen and their order do not depend on how the bank is split;
* similarities are accumulated in float64. With the bank in float16 the
  products of two float16 numbers and all their partial sums (< 2 in
  magnitude, multiples of 2^-48) are exact: every similarity is the same
  number whatever the split, summation order or BLAS kernel. With a float32
  bank (the protocol's default) the split can change the order of the
  float64 sums (GEMM kernels sum in a shape-dependent order), so a ranking
  could differ only between similarities within about 1e-16 of each other.
"""
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, all_reduce, get_dist_info
from torch import Tensor

NO_INDEX = torch.iinfo(torch.int64).max  # padding of short candidate lists


def normalise(features: Tensor, dtype: torch.dtype = torch.float16) -> Tensor:
    """L2-normalise rows (in float32) and store them as ``dtype``."""
    return F.normalize(features.float(), dim=1).to(dtype)


def similarities(queries: Tensor, bank: Tensor) -> Tensor:
    """Cosine similarities of normalised rows, accumulated in float64
    (exact for float16 inputs, see the module docstring)."""
    return queries.double() @ bank.double().T


def top_neighbours(queries: Tensor, bank: Tensor, bank_index: Tensor,
                   k: int) -> Tuple[Tensor, Tensor]:
    """The ``k`` most similar bank rows of each query, most similar first,
    ties by the lower ``bank_index``.

    Args:
        queries (Tensor): ``(M, C)`` normalised.
        bank (Tensor): ``(N, C)`` normalised.
        bank_index (Tensor): ``(N,)`` global indices of the bank rows,
            increasing.
        k (int): Neighbours; clipped to ``N``.

    Returns:
        tuple[Tensor, Tensor]: similarities ``(M, k')`` (float64) and
        positions in ``bank`` ``(M, k')``, ``k' = min(k, N)``.
    """
    sims = similarities(queries, bank)
    k = min(k, bank.shape[0])
    if k == 0:
        empty = sims.new_zeros((queries.shape[0], 0))
        return empty, empty.long()
    boundary = sims.topk(k, dim=1).values[:, -1:]
    above = sims > boundary
    tied = sims == boundary
    room = k - above.sum(1, keepdim=True)  # tied rows to take, lowest first
    take = above | (tied & (tied.cumsum(1) <= room))
    positions = take.nonzero()[:, 1].view(-1, k)  # increasing index
    chosen = sims.gather(1, positions)
    order = chosen.argsort(dim=1, descending=True, stable=True)
    return chosen.gather(1, order), positions.gather(1, order)


def merge_neighbours(sims: Tensor, index: Tensor, labels: Tensor,
                     k: int) -> Tuple[Tensor, Tensor]:
    """Merge candidate lists (concatenated along dim 1) into the top ``k``,
    ordered as :func:`top_neighbours` orders them. Returns similarities and
    labels."""
    by_index = index.argsort(dim=1, stable=True)
    sims, labels = sims.gather(1, by_index), labels.gather(1, by_index)
    order = sims.argsort(dim=1, descending=True, stable=True)[:, :k]
    return sims.gather(1, order), labels.gather(1, order)


def vote(sims: Tensor, labels: Tensor, num_classes: int,
         temperature: float) -> Tensor:
    """Class scores ``(M, num_classes)``: each neighbour adds
    ``exp(sim / T)`` to its class, in the neighbours' order."""
    scores = sims.new_zeros((sims.shape[0], num_classes))
    return scores.scatter_add_(1, labels, (sims / temperature).exp())


@torch.no_grad()
def knn_predict(train_features: Tensor,
                train_labels: Tensor,
                test_features: Tensor,
                num_classes: int,
                k: int = 20,
                temperature: float = 0.07,
                chunk_size: int = 1024,
                dtype: torch.dtype = torch.float32) -> Tensor:
    """Class scores ``(num_test, num_classes)`` (float64) by weighted kNN
    voting over the whole bank.

    Similarities are computed ``chunk_size`` test samples at a time, so memory
    is ``O(chunk_size x num_train)`` rather than ``O(num_test x num_train)``.

    Args:
        train_features (Tensor): ``(N, C)``; normalised here.
        train_labels (Tensor): ``(N,)`` integer labels.
        test_features (Tensor): ``(M, C)``; normalised here.
        num_classes (int): Number of classes.
        k (int): Neighbours (clipped to N).
        temperature (float): T in exp(sim / T).
        chunk_size (int): Test samples per similarity block.
        dtype (torch.dtype): Storage of the normalised features.
    """
    if train_features.shape[0] != train_labels.shape[0]:
        raise ValueError(f'{train_features.shape[0]} train features but '
                         f'{train_labels.shape[0]} labels')
    train = normalise(train_features, dtype)
    test = normalise(test_features, dtype)
    index = torch.arange(train.shape[0])
    scores = []
    for start in range(0, test.shape[0], chunk_size):
        sims, positions = top_neighbours(test[start:start + chunk_size],
                                         train, index, k)
        scores.append(vote(sims, train_labels[positions], num_classes,
                           temperature))
    return torch.cat(scores)


@torch.no_grad()
def knn_accuracy(train_features: Tensor,
                 train_labels: Tensor,
                 test_features: Tensor,
                 test_labels: Tensor,
                 ks: Sequence[int] = (10, 20, 100, 200),
                 temperature: float = 0.07,
                 chunk_size: int = 1024,
                 dtype: torch.dtype = torch.float32) -> Dict[int, float]:
    """Top-1 accuracy (%) of weighted kNN for every k in ``ks`` (one
    process, whole bank)."""
    if train_features.shape[0] != train_labels.shape[0]:
        raise ValueError(f'{train_features.shape[0]} train features but '
                         f'{train_labels.shape[0]} labels')
    return _accuracy(normalise(train_features, dtype), train_labels,
                     torch.arange(train_features.shape[0]),
                     normalise(test_features, dtype), test_labels, ks,
                     temperature, chunk_size, world_size=1)


@torch.no_grad()
def sharded_knn_accuracy(bank: Tensor,
                         bank_labels: Tensor,
                         bank_index: Tensor,
                         queries: Tensor,
                         query_labels: Tensor,
                         ks: Sequence[int] = (10, 20, 100, 200),
                         temperature: float = 0.07,
                         chunk_size: int = 1024) -> Dict[int, float]:
    """:func:`knn_accuracy` with the bank split over the processes: every
    process passes its shard (normalised rows, their labels and global
    indices) and all queries; each searches its shard, the candidates of
    every process are all-gathered ``chunk_size`` queries at a time and
    merged. Every process returns the same accuracies, equal to the search
    over the gathered bank (module docstring).

    Memory per process: the shard, the queries, and ``chunk_size x shard``
    float64 similarities.
    """
    if len({bank.shape[0], bank_labels.shape[0], bank_index.shape[0]}) != 1:
        raise ValueError(f'bank of {bank.shape[0]} rows, '
                         f'{bank_labels.shape[0]} labels and '
                         f'{bank_index.shape[0]} indices')
    _, world_size = get_dist_info()
    return _accuracy(bank, bank_labels, bank_index, queries, query_labels,
                     ks, temperature, chunk_size, world_size)


def _accuracy(bank, bank_labels, bank_index, queries, query_labels, ks,
              temperature, chunk_size, world_size) -> Dict[int, float]:
    if bank_index.numel() > 1 and not bool(
            (bank_index[1:] > bank_index[:-1]).all()):
        raise ValueError('bank_index must be increasing')
    counts = torch.tensor([bank.shape[0],
                           int(bank_labels.max()) + 1 if len(bank_labels)
                           else 0, int(query_labels.max()) + 1])
    if world_size > 1:
        totals = counts.clone()
        all_reduce(totals, op='sum')
        all_reduce(counts, op='max')
        counts[0] = totals[0]
    total, num_classes = int(counts[0]), int(counts[1:].max())
    k_max = min(max(ks), total)
    correct = {k: 0 for k in ks}
    for start in range(0, queries.shape[0], chunk_size):
        chunk = queries[start:start + chunk_size]
        sims, positions = top_neighbours(chunk, bank, bank_index, k_max)
        labels, index = bank_labels[positions], bank_index[positions]
        if world_size > 1:
            sims, index, labels = (_gather_padded(t, k_max, pad) for t, pad in
                                   ((sims, float('-inf')), (index, NO_INDEX),
                                    (labels, 0)))
        sims, labels = merge_neighbours(sims, index, labels, k_max)
        truth = query_labels[start:start + chunk_size]
        for k in ks:
            k_used = min(k, total)
            scores = vote(sims[:, :k_used], labels[:, :k_used], num_classes,
                          temperature)
            correct[k] += int((scores.argmax(1) == truth).sum())
    return {k: 100.0 * correct[k] / queries.shape[0] for k in ks}


def _gather_padded(t: Tensor, width: int, pad) -> Tensor:
    """All-gather ``(M, w)`` candidate lists, each padded to ``width``
    columns, concatenated along dim 1."""
    padded = t.new_full((t.shape[0], width), pad)
    padded[:, :t.shape[1]] = t
    parts: List[Tensor] = all_gather(padded)
    return torch.cat(parts, dim=1)
