# COCO instance segmentation, ViTDet recipe (Li et al., ECCV 2022): Mask R-CNN
# + ViT-B/16 (from an MTE backbone exported by tools/export_backbone.py) + a
# simple feature pyramid; large-scale jitter at 1024 px, AdamW lr 1e-4,
# weight decay 0.1, layer-wise lr decay 0.7, drop path 0.1, 100 epochs
# (184375 iterations at 64 images / step; here 8 GPUs x 2 = 16, so set
# --auto-scale-lr or more GPUs), steps at 88.9 % and 96.3 %.
#   bash tools/dist_train.sh configs/det/mask_rcnn_mte_vitb_sfp_lsj_100e_coco.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=exports/epoch_100_teacher_vit_mmpretrain.pth
_base_ = ['../_base_/det/mask_rcnn_vit_sfp.py',
          '../_base_/det/coco_instance.py', '../_base_/det/det_runtime.py']
model = dict(backbone=dict(init_cfg=dict(
    checkpoint='exports/mte_dino_vitb_teacher_vit_mmpretrain.pth')))
image_size = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    # no Pad to 1024 here: the ViT interpolates its position embedding, and
    # mmdet then clips boxes to the image rather than to the padding
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.1),
    constructor='mte_mm.ViTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.7))
max_iters = 184375
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=250),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[163889, 177546], gamma=0.1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
train_dataloader.update(sampler=dict(type='InfiniteSampler', shuffle=True),
                        batch_sampler=None)  # fixed 1024 px: no grouping
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=5000))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(base_batch_size=64, enable=False)
