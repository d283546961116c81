# MTE-SimSiam for small-image folders (32 px): the half-width CIFAR-stem
# ResNet-18 of configs/small/mte_byol_small.py, mmpretrain's SimSiam
# projector / predictor shapes at 512 out / 128 predictor hidden, SGD lr
# 0.05 x 256 / 256 with a fixed predictor lr (SimSiamHook), 30 epochs, the
# MTE defaults of the ResNet-50 config. Baseline:
# configs/small/simsiam_small.py.
_base_ = [
    '../_base_/models/small_resnet18_tokens.py',
    '../_base_/datasets/folder_two_view_small.py',
    '../_base_/schedules/small_two_view_30e.py',
    '../_base_/default_runtime.py',
]
channels = 256  # the backbone's last stage
model = dict(
    type='MTESimSiam',
    backbone=dict(backbone=dict(zero_init_residual=True)),
    neck=dict(type='MultiTokenNeck', in_channels=channels,
              num_pooled_tokens=4,
              projector=dict(type='NonLinearNeck', in_channels=channels,
                             hid_channels=512, out_channels=512,
                             num_layers=3, with_last_bn_affine=False,
                             with_avg_pool=False)),
    head=dict(type='LatentPredictSlotHead', loss_weight=0.5,
              predictor=dict(type='NonLinearNeck', in_channels=512,
                             hid_channels=128, out_channels=512,
                             with_avg_pool=False, with_last_bn=False,
                             with_last_bias=True)),
    distill=dict(type='EnsembleDistillLoss', loss_weight=1.0,
                 ensemble=('aux', 'pooled')))
lr = 0.05
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=lr, weight_decay=1e-4, momentum=0.9),
    paramwise_cfg=dict(custom_keys={'predictor': dict(fix_lr=True)}))
custom_hooks = [dict(type='SimSiamHook', priority='HIGH', fix_pred_lr=True,
                     lr=lr)]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=30, max_keep_ckpts=1))
