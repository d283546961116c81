# End-to-end fine-tuning, ViT-B/16, ImageNet-1k, the MAE / BEiT / iBOT recipe
# (He et al., CVPR 2022, fine-tuning settings): AdamW, base lr 5e-4 per 256
# images (2e-3 at 8 GPUs x 128), layer-wise lr decay 0.65 (mmpretrain's
# LearningRateDecayOptimWrapperConstructor), weight decay 0.05, 100 epochs
# with 5 warm-up, drop path 0.1, RandAugment(9, 0.5), random erasing 0.25,
# mixup 0.8 / cutmix 1.0, label smoothing 0.1, global average pooling.
_base_ = ['../_base_/datasets/imagenet_cls.py',
          '../_base_/default_runtime.py']
pretrained = 'exports/mte_dino_vitb_teacher_vit_mmpretrain.pth'
embed_dims = 768
data_preprocessor = dict(
    batch_augments=dict(augments=[dict(type='Mixup', alpha=0.8),
                                  dict(type='CutMix', alpha=1.0)]))
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='TransferViT',  # exactly mmpretrain's ViT (no window option)
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=12,
                  feedforward_channels=4 * embed_dims),
        img_size=224, patch_size=16, drop_path_rate=0.1,
        out_type='avg_featmap', final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=None,
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=embed_dims,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]))
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }))
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1e-6,
         by_epoch=True, begin=5, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256, enable=True)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2))
