# COCO instance segmentation, Mask R-CNN + FPN + ConvNeXt-T initialised from an
# MTE-DINO (or DINO) ConvNeXt exported by tools/export_backbone.py. mmdet's
# ConvNeXt recipe (AdamW lr 1e-4, weight decay 0.05, mmdet's layer-wise lr
# decay 0.95 over 6 ConvNeXt layer groups, drop-path 0.4) on the 1x schedule
# (12 epochs, steps at 8 and 11, single-scale 1333 x 800, batch 16 = 8 GPUs x
# 2); mmdet's own ConvNeXt config is the 3x multi-scale-crop variant.
#   bash tools/dist_train.sh configs/det/mask_rcnn_mte_convnext_tiny_fpn_1x_coco.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=exports/epoch_100_teacher_convnext_mmpretrain.pth
_base_ = ['../_base_/det/mask_rcnn_convnext_fpn.py',
          '../_base_/det/coco_instance.py', '../_base_/det/det_runtime.py']
model = dict(backbone=dict(init_cfg=dict(
    checkpoint='exports/mte_dino_convnext_tiny_teacher_convnext_mmpretrain.pth'
)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(
    type='OptimWrapper',  # --amp for mmdet's AmpOptimWrapper
    constructor='LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise',
                       num_layers=6),
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=1000),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=12,
         milestones=[8, 11], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=16, enable=False)
