# MTE-BYOL for small-image folders (32 px) on a CPU or one GPU: a half-width
# ResNet-18 with the CIFAR stem (a 4 x 4 last-stage map: 16 patch tokens for
# the K = 4 pooled tokens), mmpretrain's BYOL projector / predictor shapes at
# 1024 hidden / 128 out, 30 epochs, LARS lr 0.3 at batch 256 (mmpretrain's
# 4.8 per 4096), BYOL's momentum 0.01 -> 0, the MTE defaults of the
# ResNet-50 config. Compare with configs/small/byol_small.py through
# tools/analysis_tools/compare_methods.py (kNN with --resize 32 --crop 32).
_base_ = [
    '../_base_/models/small_resnet18_tokens.py',
    '../_base_/datasets/folder_two_view_small.py',
    '../_base_/schedules/small_two_view_30e.py',
    '../_base_/default_runtime.py',
]
channels = 256  # the backbone's last stage
model = dict(
    type='MTEBYOL',
    base_momentum=0.01,
    neck=dict(type='MultiTokenNeck', in_channels=channels,
              num_pooled_tokens=4,
              projector=dict(type='NonLinearNeck', in_channels=channels,
                             hid_channels=1024, out_channels=128,
                             num_layers=2, with_bias=True,
                             with_last_bn=False, with_avg_pool=False)),
    head=dict(type='LatentPredictSlotHead', loss_weight=2.0,
              predictor=dict(type='NonLinearNeck', in_channels=128,
                             hid_channels=1024, out_channels=128,
                             num_layers=2, with_bias=True,
                             with_last_bn=False, with_avg_pool=False)),
    distill=dict(type='EnsembleDistillLoss', loss_weight=1.0,
                 ensemble=('aux', 'pooled')))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=0.3, momentum=0.9, weight_decay=1.5e-06),
    paramwise_cfg=dict(custom_keys={
        'bn': dict(decay_mult=0, lars_exclude=True),
        'bias': dict(decay_mult=0, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lars_exclude=True)}))
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=30, max_keep_ckpts=1))
