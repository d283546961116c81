"""COCO Mask R-CNN (ViTDet recipe) and Cascade Mask R-CNN (1x) configs on a
generated COCO-format dataset: train 2 iterations, evaluate bbox and segm
AP with CocoMetric, load the exported backbone."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ..conftest import (export_tiny_mte, free_port, run_tool,
                        stock_tool)

pytestmark = pytest.mark.transfer  # mmdet / mmseg

DIMS = 32
ARCH = {'model.backbone.arch.embed_dims': DIMS,
        'model.backbone.arch.num_layers': 2,
        'model.backbone.arch.num_heads': 2,
        'model.backbone.arch.feedforward_channels': 64}


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    return export_tiny_mte(tmp_path_factory.mktemp('exported'),
                           num_layers=2)


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    """3 images with 2 boxes each (a person and a car) and polygon masks."""
    from mmdet.datasets import CocoDataset
    root = tmp_path_factory.mktemp('coco')
    (root / 'images').mkdir()
    rng = np.random.RandomState(0)
    images, annotations = [], []
    for img_id in range(1, 4):
        image = rng.randint(0, 60, (96, 128, 3)).astype(np.uint8)
        for cat_id, (x, y, w, h) in ((1, (10, 12, 40, 50)),
                                     (3, (60, 30, 50, 40))):
            image[y:y + h, x:x + w] = 200 if cat_id == 1 else 120
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id, category_id=cat_id,
                bbox=[x, y, w, h], area=w * h, iscrowd=0,
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
        Image.fromarray(image).save(root / 'images' / f'{img_id}.jpg')
        images.append(dict(id=img_id, file_name=f'{img_id}.jpg', width=128,
                           height=96))
    categories = [dict(id=i + 1, name=name) for i, name in
                  enumerate(CocoDataset.METAINFO['classes'])]
    (root / 'ann.json').write_text(json.dumps(dict(
        images=images, annotations=annotations, categories=categories)))
    return root


def options(exported, coco_root, heads):
    opts = [f'{k}={v}' for k, v in ARCH.items()] + [
        'model.backbone.out_indices=[1]',
        # Mask R-CNN: block 0 windowed, block 1 global (Cascade: no windows)
        'model.backbone.global_attn_indices=[1]',
        f'model.backbone.init_cfg.checkpoint={exported}',
        f'model.neck.in_channels={DIMS}', f'model.neck.out_channels={DIMS}',
        f'model.rpn_head.in_channels={DIMS}',
        f'model.rpn_head.feat_channels={DIMS}',
        f'model.roi_head.bbox_roi_extractor.out_channels={DIMS}',
        f'model.roi_head.mask_roi_extractor.out_channels={DIMS}',
        f'model.roi_head.mask_head.in_channels={DIMS}',
        f'model.roi_head.mask_head.conv_out_channels={DIMS}',
        f'val_evaluator.ann_file={coco_root}/ann.json',
        f'test_evaluator.ann_file={coco_root}/ann.json',
        # an untrained detector scores below 0.05: keep every box so that
        # CocoMetric has predictions to score
        'model.test_cfg.rcnn.score_thr=0.0',
        'default_hooks.logger.interval=1']
    for head in heads:
        opts += [f'model.roi_head.{head}.in_channels={DIMS}',
                 f'model.roi_head.{head}.fc_out_channels={DIMS}']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={coco_root}',
                 f'{loader}.dataset.ann_file=ann.json',
                 f'{loader}.dataset.data_prefix.img=images/',
                 f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    return opts


@pytest.mark.parametrize('config, heads, schedule', [
    ('configs/det/mask_rcnn_mte_vitb_sfp_lsj_100e_coco.py', ['bbox_head'],
     ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
      'default_hooks.checkpoint.interval=2']),
    ('configs/det/cascade_mask_rcnn_mte_vitb_sfp_1x_coco.py',
     ['bbox_head.0', 'bbox_head.1', 'bbox_head.2'],
     ['train_cfg.max_epochs=1']),
])
def test_detector_trains_and_reports_bbox_and_segm_ap(
        config, heads, schedule, exported, coco_root, tmp_path):
    proc = run_tool(['tools/train.py', config, '--work-dir', tmp_path,
                     '--cfg-options', *options(exported, coco_root, heads),
                     *schedule], timeout=900)
    log = proc.stdout + proc.stderr
    assert f'Loads checkpoint by local backend from path: {exported}' in log
    assert 'coco/bbox_mAP:' in log and 'coco/segm_mAP:' in log
    assert '[2/2]' in log  # two training iterations ran


MASK_RCNN = 'configs/det/mask_rcnn_mte_vitb_sfp_lsj_100e_coco.py'
MASK_RCNN_2_ITERS = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                     'default_hooks.checkpoint.interval=2']


def test_stock_mmdet_tools_train_and_test(exported, coco_root, tmp_path):
    """mmdet's own tools/train.py and tools/test.py run our config as is
    (its custom_imports pull in mte_mm and its compat shims)."""
    cfg_options = ['--cfg-options',
                   *options(exported, coco_root, ['bbox_head']),
                   *MASK_RCNN_2_ITERS]
    proc = run_tool([stock_tool('mmdet', 'train.py'), MASK_RCNN,
                     '--work-dir', tmp_path, *cfg_options], timeout=900)
    log = proc.stdout + proc.stderr
    assert f'Loads checkpoint by local backend from path: {exported}' in log
    assert '[2/2]' in log and 'coco/segm_mAP:' in log
    proc = run_tool([stock_tool('mmdet', 'test.py'), MASK_RCNN,
                     tmp_path / 'iter_2.pth', '--work-dir', tmp_path / 'test',
                     *cfg_options], timeout=900)
    log = proc.stdout + proc.stderr
    assert 'coco/bbox_mAP:' in log and 'coco/segm_mAP:' in log


def test_mask_rcnn_two_cpu_processes(exported, coco_root, tmp_path):
    proc = run_tool(['bash', 'tools/dist_train.sh', MASK_RCNN, '2',
                     '--work-dir', tmp_path, '--cfg-options',
                     *options(exported, coco_root, ['bbox_head']),
                     *MASK_RCNN_2_ITERS],
                    env={'PORT': str(free_port())}, timeout=900)
    log = proc.stdout + proc.stderr
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert '[2/2]' in log and 'coco/segm_mAP:' in log
    assert torch.load(tmp_path / 'iter_2.pth',
                      weights_only=False)['meta']['iter'] == 2
    # and tools/dist_test.sh evaluates it, CocoMetric gathering both ranks
    out = tmp_path / 'metrics.json'
    run_tool(['bash', 'tools/dist_test.sh', MASK_RCNN, tmp_path / 'iter_2.pth',
              '2', '--work-dir', tmp_path / 'test', '--out', out,
              '--cfg-options', *options(exported, coco_root, ['bbox_head'])],
             env={'PORT': str(free_port())}, timeout=900)
    metrics = json.loads(out.read_text())
    # the checkpoint's metrics are those the run's validation at iteration 2
    # computed from the same weights on the same images
    logs = list(tmp_path.glob('2*/vis_data/scalars.json'))
    validated = [json.loads(line) for line in logs[0].read_text().split('\n')
                 if 'coco/bbox_mAP' in line][-1]
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert metrics[key] == validated[key]
