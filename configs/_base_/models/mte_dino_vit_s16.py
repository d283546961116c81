# MTE-DINO with DINO's ViT-S/16 (embed 384, 12 blocks, 6 heads; this is
# mmpretrain's 'deit-small' arch, not its 'small'). MTE defaults: N=4 auxiliary
# CLS tokens (backbone), K=4 pooled tokens (neck), one-way attention, shared
# projector, lambda=1, ensemble of all auxiliary slots (aux + pooled), one
# centre per slot, aux and pooled slots trained on the global crops (see
# MTEDINO.aux_loss_views). DINO head/loss: official ViT-S/16 100-epoch
# defaults. Roles: backbone + neck are EMA'd by the teacher; the head (DINO's
# centring, temperatures and loss) is the student's.
embed_dims = 384
model = dict(
    type='MTEDINO',
    base_momentum=0.004,  # CosineEMA's momentum is the student's weight: 1 - 0.996
    num_global_views=2,
    freeze_last_layer_epochs=1,
    aux_loss_views='global',  # aux/pooled slots trained on the global crops
    backbone=dict(
        type='MTEVisionTransformer',
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=6,
                  feedforward_channels=4 * embed_dims),
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        num_aux_tokens=4,
        aux_attention='one_way'),
    neck=dict(
        type='MultiTokenNeck',
        in_channels=embed_dims,
        num_pooled_tokens=4,
        separate_projectors=False,
        # DINO's head has no batch statistics: one call for all slots gives
        # the same numbers as one per slot, faster
        projector_call='joint',
        projector=dict(
            type='DINOProjector',
            in_channels=embed_dims,
            out_channels=65536,
            hidden_channels=2048,
            bottleneck_channels=256,
            norm_last_layer=True)),
    head=dict(
        type='DINOSlotHead',
        out_channels=65536,
        student_temp=0.1,
        teacher_temp=0.04,
        warmup_teacher_temp=0.04,
        warmup_teacher_temp_epochs=0,
        center_momentum=0.9,
        center_per_slot=True),
    distill=dict(type='EnsembleDistillLoss', loss_weight=1.0,
                 ensemble=('aux', 'pooled')))
