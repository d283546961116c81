# MTE-Barlow Twins for small-image folders (32 px): the half-width
# CIFAR-stem ResNet-18 of configs/small/mte_byol_small.py, mmpretrain's
# Barlow Twins projector shape at 1024 wide, LARS lr 0.2 at batch 256
# (mmpretrain's 1.6 per 2048; its 0.024 lr multiplier on norms and biases),
# 30 epochs, the MTE defaults of the ResNet-50 config. Baseline:
# configs/small/barlowtwins_small.py.
_base_ = [
    '../_base_/datasets/folder_two_view_small.py',
    '../_base_/default_runtime.py',
]
channels = 256  # ResNet-18 (CIFAR stem) at half width: stages 32..256
backbone = dict(
    type='FeatureMapTokenAdapter',
    num_aux_tokens=0,
    backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=32,
                  stem_channels=32, norm_cfg=dict(type='SyncBN')))
model = dict(
    type='MTEBarlowTwins',
    backbone=dict(backbone, backbone=dict(backbone['backbone'],
                                          zero_init_residual=True)),
    neck=dict(type='MultiTokenNeck', in_channels=channels,
              num_pooled_tokens=4,
              projector=dict(type='NonLinearNeck', in_channels=channels,
                             hid_channels=1024, out_channels=1024,
                             num_layers=3, with_last_bn=False,
                             with_last_bn_affine=False, with_avg_pool=False,
                             init_cfg=dict(type='Kaiming',
                                           distribution='uniform',
                                           layer=['Linear']))),
    head=dict(type='LatentCrossCorrelationSlotHead', in_channels=1024),
    distill=dict(type='EnsembleDistillLoss', loss_weight=1.0,
                 ensemble=('aux', 'pooled')))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=0.2, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(custom_keys={
        'bn': dict(decay_mult=0, lr_mult=0.024, lars_exclude=True),
        'bias': dict(decay_mult=0, lr_mult=0.024, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lr_mult=0.024,
                             lars_exclude=True)}))
max_epochs = 30
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=2,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
