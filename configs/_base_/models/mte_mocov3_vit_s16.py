# MTE-MoCo v3 with MoCo v3's ViT-S/16 (embed 384, 12 blocks, 12 heads:
# mmpretrain's 'mocov3-small'; its 'small' is another model), frozen random
# patch projection and fixed 2-D sin-cos position embedding; MoCo v3's
# projector and predictor (official ViT recipe, as mmpretrain's configs),
# T = 0.2, momentum 0.99 -> 1 (CosineEMA's momentum is the student's weight).
# SyncBN (official): plain BN in one process, mte_mm.CPUSyncBN on CPU gloo runs.
# MTE defaults: N=4 auxiliary CLS tokens (backbone), K=4 pooled tokens (neck),
# one-way attention, shared projector run once per slot (per-slot BatchNorm
# statistics, see MTEMoCoV3), lambda=1 contrastive distillation of the
# momentum encoder's ensemble key (aux + pooled) into the global query.
embed_dims = 384
temperature = 0.2
model = dict(
    type='MTEMoCoV3',
    base_momentum=0.01,
    backbone=dict(
        type='MTEMoCoV3ViT',
        arch='mocov3-small',
        img_size=224,
        patch_size=16,
        stop_grad_conv1=True,
        num_aux_tokens=4,
        aux_attention='one_way'),
    neck=dict(
        type='MultiTokenNeck',
        in_channels=embed_dims,
        num_pooled_tokens=4,
        separate_projectors=False,
        projector_call='per_slot',
        projector=dict(
            type='NonLinearNeck',
            in_channels=embed_dims,
            hid_channels=4096,
            out_channels=256,
            num_layers=3,
            with_bias=False,
            with_last_bn=True,
            with_last_bn_affine=False,
            with_last_bias=False,
            with_avg_pool=False,
            norm_cfg=dict(type='SyncBN'))),
    head=dict(
        type='MoCoV3SlotHead',
        temperature=temperature,
        predictor=dict(
            type='NonLinearNeck',
            in_channels=256,
            hid_channels=4096,
            out_channels=256,
            num_layers=2,
            with_bias=False,
            with_last_bn=True,
            with_last_bn_affine=False,
            with_last_bias=False,
            with_avg_pool=False,
            norm_cfg=dict(type='SyncBN'))),
    distill=dict(type='EnsembleDistillLoss', loss_weight=1.0,
                 ensemble=('aux', 'pooled')))
