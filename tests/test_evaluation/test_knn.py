import math

import pytest
import torch

from mte_mm.evaluation import knn_accuracy, knn_predict


def brute_force_knn(train, train_labels, test, num_classes, k, t):
    """Loop-by-loop DINO weighted kNN."""
    scores = torch.zeros(len(test), num_classes)
    for i, q in enumerate(test):
        sims = [(float(q @ x / (q.norm() * x.norm())), int(y))
                for x, y in zip(train, train_labels)]
        sims.sort(key=lambda s: -s[0])
        for sim, label in sims[:k]:
            scores[i, label] += math.exp(sim / t)
    return scores


@pytest.mark.parametrize('chunk_size', [1, 7, 1024])
def test_knn_equals_brute_force(chunk_size):
    g = torch.Generator().manual_seed(0)
    train = torch.randn(60, 8, generator=g)
    labels = torch.randint(0, 4, (60, ), generator=g)
    test = torch.randn(13, 8, generator=g)
    got = knn_predict(train, labels, test, 4, k=10, temperature=0.07,
                      chunk_size=chunk_size)
    ref = brute_force_knn(train, labels, test, 4, 10, 0.07)
    torch.testing.assert_close(got.float(), ref, rtol=1e-4, atol=1e-3)


def test_separable_clusters_and_shuffled_labels():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 16, generator=g) * 5

    def sample(n):
        labels = torch.arange(5).repeat(n // 5)
        return centres[labels] + torch.randn(n, 16, generator=g) * 0.3, labels

    train, train_labels = sample(500)
    test, test_labels = sample(250)
    acc = knn_accuracy(train, train_labels, test, test_labels, ks=(10, 20))
    assert acc[10] == acc[20] == 100.0
    shuffled = train_labels[torch.randperm(500, generator=g)]
    chance = knn_accuracy(train, shuffled, test, test_labels, ks=(20, ))
    assert 5.0 <= chance[20] <= 35.0  # chance is 20 %


def test_k_larger_than_bank_and_mismatch_error():
    train, labels = torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1])
    scores = knn_predict(train, labels, torch.randn(2, 4), 2, k=200)
    assert scores.shape == (2, 2) and (scores > 0).any()
    with pytest.raises(ValueError, match='5 train features but 4 labels'):
        knn_predict(train, labels[:4], torch.randn(2, 4), 2)
