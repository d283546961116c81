# mmpretrain's own recipe (batch, optimizer, lr, schedule, augmentation, neck
# and head sizes: inherited value for value from the installed mmpretrain
# 1.2 config, tests/test_configs/test_latent_configs.py), with the model in
# MTE's parts: mmpretrain's ResNet-50 inside FeatureMapTokenAdapter (global
# token = the average pool of the last stage, what mmpretrain's neck reads,
# so the projector runs with_avg_pool=False), K=4 pooled tokens from the
# neck, no auxiliary CLS token (class attention, optional:
# model.backbone.num_aux_tokens), the projector and predictor per slot (each
# slot its own BatchNorm statistics), lambda=1 distillation of the ensemble
# of pooled tokens into the global token.
#   bash tools/dist_train.sh configs/mte_barlowtwins_resnet50.py 8   (8 x 256)
_base_ = 'mmpretrain::barlowtwins/barlowtwins_resnet50_8xb256-coslr-300e_in1k.py'
model = dict(
    _delete_=True,
    type='MTEBarlowTwins',
    backbone=dict(
        type='FeatureMapTokenAdapter',
        num_aux_tokens=0,
        backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'),
                      zero_init_residual=True)),
    neck=dict(
        type='MultiTokenNeck',
        in_channels=2048,
        num_pooled_tokens=4,
        projector=dict(type='NonLinearNeck', in_channels=2048,
                       hid_channels=8192, out_channels=8192, num_layers=3,
                       with_last_bn=False, with_last_bn_affine=False,
                       with_avg_pool=False,
                       init_cfg=dict(type='Kaiming', distribution='uniform',
                                     layer=['Linear']))),
    head=dict(
        type='LatentCrossCorrelationSlotHead',
        in_channels=8192,
        # the loss without the 8192 x 8192 matrix per slot (equal up to
        # rounding; 1.13x Barlow's step time with K = 4 instead of 5.6x,
        # README)
        cross_correlation='gram',
        loss=dict(type='CrossCorrelationLoss')),
    distill=dict(type='EnsembleDistillLoss', loss_weight=1.0,
                 ensemble=('aux', 'pooled')))

# inherited through mmpretrain:: every typed dict gains a _scope_ key, which
# mmengine's Runner would pass to the collate function as an argument
train_dataloader = dict(collate_fn=dict(_delete_=True,
                                        type='default_collate'))
# mte_mm's modules and compat shims; a NaN / inf loss stops before the update
custom_imports = dict(imports=['mte_mm'], allow_failed_imports=False)
default_hooks = dict(non_finite=dict(type='NonFiniteLossGuardHook',
                                     policy='stop'))
