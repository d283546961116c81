"""Weighted k-nearest-neighbour classification of frozen features, the DINO
protocol (Caron et al., ICCV 2021; Wu et al., 2018): L2-normalised features,
the k most cosine-similar training samples vote with weight exp(sim / T)."""
from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def knn_predict(train_features: Tensor,
                train_labels: Tensor,
                test_features: Tensor,
                num_classes: int,
                k: int = 20,
                temperature: float = 0.07,
                chunk_size: int = 1024) -> Tensor:
    """Class scores ``(num_test, num_classes)`` by weighted kNN voting.

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
    """
    if train_features.shape[0] != train_labels.shape[0]:
        raise ValueError(f'{train_features.shape[0]} train features but '
                         f'{train_labels.shape[0]} labels')
    train = F.normalize(train_features.float(), dim=1)
    test = F.normalize(test_features.float(), dim=1)
    k = min(k, train.shape[0])
    scores = []
    for start in range(0, test.shape[0], chunk_size):
        sims = test[start:start + chunk_size] @ train.T
        top_sims, top_idx = sims.topk(k, dim=1)
        votes = torch.zeros(top_sims.shape[0], num_classes,
                            device=top_sims.device)
        votes.scatter_add_(1, train_labels[top_idx], (top_sims / temperature).exp())
        scores.append(votes)
    return torch.cat(scores)


@torch.no_grad()
def knn_accuracy(train_features: Tensor,
                 train_labels: Tensor,
                 test_features: Tensor,
                 test_labels: Tensor,
                 ks: Sequence[int] = (10, 20, 100, 200),
                 temperature: float = 0.07,
                 chunk_size: int = 1024) -> Dict[int, float]:
    """Top-1 accuracy (%) of weighted kNN for every k in ``ks``."""
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    results = {}
    for k in ks:
        scores = knn_predict(train_features, train_labels, test_features,
                             num_classes, k, temperature, chunk_size)
        correct = (scores.argmax(1) == test_labels).float().mean()
        results[k] = 100.0 * float(correct)
    return results
