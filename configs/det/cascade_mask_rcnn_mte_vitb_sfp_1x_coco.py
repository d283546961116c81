# COCO instance segmentation, the protocol iBOT reports (Zhou et al., ICLR
# 2022): Cascade Mask R-CNN, 1x schedule (12 epochs, steps at 8 and 11),
# multi-scale training (short side 480..800, long side <= 1333), AdamW lr 1e-4,
# weight decay 0.05, layer-wise lr decay 0.75, batch 16 (8 GPUs x 2). The
# neck is our simple feature pyramid (iBOT used BEiT's deconvolution FPN).
#   bash tools/dist_train.sh configs/det/cascade_mask_rcnn_mte_vitb_sfp_1x_coco.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=exports/epoch_100_teacher_vit_mmpretrain.pth
_base_ = ['../_base_/det/cascade_mask_rcnn_vit_sfp.py',
          '../_base_/det/coco_instance.py', '../_base_/det/det_runtime.py']
model = dict(backbone=dict(
    img_size=800,
    init_cfg=dict(checkpoint='exports/mte_dino_vitb_teacher_vit_mmpretrain.pth')))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoiceResize',
         scales=[(1333, 480), (1333, 512), (1333, 544), (1333, 576),
                 (1333, 608), (1333, 640), (1333, 672), (1333, 704),
                 (1333, 736), (1333, 768), (1333, 800)],
         keep_ratio=True),
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
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    constructor='mte_mm.ViTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
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
