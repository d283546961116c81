"""The study controls (mte_mm.evaluation.controls): the raw-pixel kNN against
a by-hand weighted kNN on the flattened images, and the regime arithmetic."""
import math

import numpy as np
import pytest
from PIL import Image

from mte_mm.evaluation import build_knn_datasets
from mte_mm.evaluation.controls import (learning_regime, pixel_knn,
                                        regime_line)

SIZE = 8  # images written at the crop size: resize and crop change nothing


@pytest.fixture(scope='module')
def three_class_folder(tmp_path_factory):
    """PNGs (lossless, so the by-hand reading is the pipeline's) of three
    classes, each a noisy version of its own pattern, the patterns close."""
    root = tmp_path_factory.mktemp('pixels')
    rng = np.random.RandomState(0)
    patterns = rng.randint(60, 196, (1, SIZE, SIZE, 3)) + \
        rng.randint(-25, 26, (3, SIZE, SIZE, 3))
    for split, count in (('train', 7), ('val', 5)):
        for c, pattern in enumerate(patterns):
            folder = root / split / f'class{c}'
            folder.mkdir(parents=True)
            for i in range(count):
                noise = rng.randint(-120, 121, pattern.shape)
                image = np.clip(pattern + noise, 0, 255).astype(np.uint8)
                Image.fromarray(image).save(folder / f'{i}.png')
    return root


def by_hand_knn(root, k, temperature=0.07):
    def read(split):
        rows, labels = [], []
        for c in range(3):
            for path in sorted((root / split / f'class{c}').iterdir()):
                rows.append(np.asarray(Image.open(path), np.float64)
                            .reshape(-1))
                labels.append(c)
        rows = np.stack(rows)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True), labels

    bank, bank_labels = read('train')
    queries, query_labels = read('val')
    correct = 0
    for query, label in zip(queries, query_labels):
        sims = bank @ query
        votes = np.zeros(3)
        for j in np.argsort(-sims)[:k]:
            votes[bank_labels[j]] += math.exp(sims[j] / temperature)
        correct += int(votes.argmax() == label)
    return 100 * correct / len(queries)


def test_pixel_knn_is_weighted_knn_on_the_flattened_images(
        three_class_folder):
    train, val = build_knn_datasets(data_root=str(three_class_folder),
                                    resize=SIZE, crop=SIZE)
    result = pixel_knn(train, val, ks=(1, 5, 20))
    expected = {k: by_hand_knn(three_class_folder, k) for k in (1, 5, 20)}
    assert result == pytest.approx(expected)
    # the data tells the classes apart, but not perfectly: the test can fail
    assert 40 < expected[5] < 100


def test_regime_takes_the_better_control_paired_by_seed():
    regime = learning_regime([40.0, 42.0, 44.0],
                             {'raw pixels': [30.0],
                              'untrained': [31.0, 32.0, 36.0]})
    # untrained (mean 33) beats the pixels (30): per-seed base - untrained
    assert regime['control'] == 'untrained'
    assert regime['diffs'] == [9.0, 10.0, 8.0]
    assert regime['margin'] == pytest.approx(9.0)
    # t(0.975, 2) = 4.3027, stdev 1, 3 seeds
    assert regime['ci95_half_width'] == pytest.approx(4.3027 / math.sqrt(3),
                                                      rel=1e-4)
    assert regime['learning'] is True
    line = regime_line(regime, 'dino', 20)
    assert line == ("Regime: dino's global token minus the better control "
                    '(untrained, 33.0) = +9.0 +- 2.5 points at k=20 '
                    '(threshold 8): a learning regime.')


def test_a_margin_under_8_points_is_not_a_learning_regime():
    # the pixels are the better control now, the same for every seed
    regime = learning_regime([36.0, 38.0], {'raw pixels': [30.5],
                                            'untrained': [25.0, 26.0]})
    assert regime['control'] == 'raw pixels'
    assert regime['diffs'] == [5.5, 7.5]
    assert regime['margin'] == pytest.approx(6.5)
    assert regime['learning'] is False
    assert '**not a learning regime**' in regime_line(regime, 'byol', 20)
    one_seed = learning_regime([50.0], {'raw pixels': [30.0]})
    assert one_seed['ci95_half_width'] is None and one_seed['learning']
    assert '+20.0 points' in regime_line(one_seed, 'byol', 20)


def test_controls_must_match_the_seeds():
    with pytest.raises(ValueError, match='2 control values for 3 seeds'):
        learning_regime([1.0, 2.0, 3.0], {'untrained': [1.0, 2.0]})
    with pytest.raises(ValueError, match='at least one control'):
        learning_regime([1.0], {})


def test_untrained_control_twice_in_one_second(three_class_folder,
                                               monkeypatch):
    """mmengine names a Runner's logger and visualizer by experiment name and
    a timestamp in seconds: two untrained controls started in the same
    second (a frozen clock here) must not share the first one's instances,
    whose folder is gone; and the same seed gives the same number."""
    import time

    from mmengine.config import Config

    from mte_mm.evaluation.controls import untrained_knn

    from ..conftest import REPO
    cfg = Config.fromfile(str(REPO / 'configs/small/barlowtwins_learning.py'))
    cfg.merge_from_dict({
        'model.backbone.backbone.base_channels': 4,
        'model.backbone.backbone.stem_channels': 4,
        'model.neck.in_channels': 32,
        'model.neck.projector.in_channels': 32})
    train, val = build_knn_datasets(data_root=str(three_class_folder),
                                    resize=SIZE, crop=SIZE)
    now = time.time()
    monkeypatch.setattr(time, 'time', lambda: now)
    first, second = (untrained_knn(cfg.copy(), 1, train, val, ks=[3])
                     for _ in range(2))
    assert first == second
