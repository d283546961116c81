# MTE-Barlow Twins for small-image folders (32 px): the half-width
# CIFAR-stem ResNet-18 of configs/small/mte_byol_small.py, mmpretrain's
# Barlow Twins projector shape at 1024 wide, LARS lr 0.2 at batch 256
# (mmpretrain's 1.6 per 2048; its 0.024 lr multiplier on norms and biases),
# 30 epochs, the MTE defaults of the ResNet-50 config. Baseline:
# configs/small/barlowtwins_small.py.
_base_ = [
    '../_base_/models/small_resnet18_tokens.py',
    '../_base_/datasets/folder_two_view_small.py',
    '../_base_/schedules/small_two_view_30e.py',
    '../_base_/default_runtime.py',
]
channels = 256  # the backbone's last stage
model = dict(
    type='MTEBarlowTwins',
    backbone=dict(backbone=dict(zero_init_residual=True)),
    neck=dict(type='MultiTokenNeck', in_channels=channels,
              num_pooled_tokens=4,
              projector=dict(type='NonLinearNeck', in_channels=channels,
                             hid_channels=1024, out_channels=1024,
                             num_layers=3, with_last_bn=False,
                             with_last_bn_affine=False, with_avg_pool=False,
                             init_cfg=dict(type='Kaiming',
                                           distribution='uniform',
                                           layer=['Linear']))),
    head=dict(type='LatentCrossCorrelationSlotHead', in_channels=1024,
              cross_correlation='gram'),
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
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=30, max_keep_ckpts=1))
