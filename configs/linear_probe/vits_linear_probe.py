# DINO linear probe, ViT-S/16 (Caron et al., ICCV 2021, eval_linear.py):
# frozen backbone, concatenated normed CLS tokens of the last 4 blocks, a
# linear layer; SGD momentum 0.9, lr 0.001 x batch / 256, no weight decay,
# 100 epochs cosine; 8 GPUs x 128 = 1024 images / step.
# Backbone: a checkpoint written by tools/export_backbone.py, e.g.
#   --cfg-options model.backbone.init_cfg.checkpoint=exports/epoch_100_teacher_vit_mmpretrain.pth
_base_ = ['../_base_/datasets/imagenet_cls.py',
          '../_base_/default_runtime.py']
pretrained = 'exports/mte_dino_vits_teacher_vit_mmpretrain.pth'
embed_dims = 384
num_blocks = 4
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='TransferViT',  # the exported plain ViT, + norm_intermediate
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=6,
                  feedforward_channels=4 * embed_dims),
        img_size=224, patch_size=16,
        out_indices=[8, 9, 10, 11], out_type='raw', norm_intermediate=True,
        frozen_stages=12,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='ConcatCLSNeck', num_blocks=num_blocks),
    head=dict(
        type='LinearClsHead', num_classes=1000,
        in_channels=num_blocks * embed_dims,
        loss=dict(type='CrossEntropyLoss'),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01)))
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True,
                        eta_min=0.0, convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256, enable=True)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2))
