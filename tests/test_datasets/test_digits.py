import numpy as np
import pytest
from mmpretrain.registry import DATASETS

import mte_mm  # noqa: F401


def test_digits_splits_are_disjoint_and_complete():
    train = DATASETS.build(dict(type='DigitsDataset', split='train'))
    test = DATASETS.build(dict(type='DigitsDataset', split='test'))
    assert len(train) + len(test) == 1797
    assert len(test) == round(1797 * 0.2)
    train_imgs = {train.get_data_info(i)['img'].tobytes()
                  for i in range(len(train))}
    overlap = sum(test.get_data_info(i)['img'].tobytes() in train_imgs
                  for i in range(len(test)))
    assert overlap <= 5  # the raw dataset has a few exact duplicate images


def test_digits_images_and_labels():
    data = DATASETS.build(
        dict(type='DigitsDataset', split='test', image_size=24))
    info = data.get_data_info(0)
    assert info['img'].shape == (24, 24, 3) and info['img'].dtype == np.uint8
    assert (info['img'][..., 0] == info['img'][..., 2]).all()
    labels = {data.get_data_info(i)['gt_label'] for i in range(len(data))}
    assert labels == set(range(10))
    assert data.metainfo['classes'] == tuple('0123456789')


def test_digits_bad_split_names_value():
    with pytest.raises(ValueError, match="'val'"):
        DATASETS.build(dict(type='DigitsDataset', split='val'))
