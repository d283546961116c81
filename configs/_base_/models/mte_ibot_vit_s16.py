# MTE-iBOT with iBOT's ViT-S/16 (embed 384, 12 blocks, 6 heads; mmpretrain's
# 'deit-small' arch). iBOT (Zhou et al., ICLR 2022), official ViT-S/16 recipe:
# mask token in the backbone; one head (DINO's MLP 2048-2048-256, 8192
# prototypes) for CLS and patch tokens with a shared, unnormalised last layer
# (shared_head, norm_last_layer=False); teacher temperature 0.04 -> 0.07 over
# 30 epochs for both losses; lambda_cls = lambda_patch = 1; masks from epoch 0.
# MTE defaults as MTE-DINO: N=4 auxiliary CLS tokens, K=4 pooled tokens,
# one-way attention, shared projector, lambda=1, ensemble of aux + pooled.
embed_dims = 384
out_channels = 8192
model = dict(
    type='MTEiBOT',
    base_momentum=0.004,  # CosineEMA's momentum is the student's weight: 1 - 0.996
    num_global_views=2,
    freeze_last_layer_epochs=1,
    aux_loss_views='global',
    pred_start_epoch=0,
    backbone=dict(
        type='MTEVisionTransformer',
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=6,
                  feedforward_channels=4 * embed_dims),
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        num_aux_tokens=4,
        aux_attention='one_way',
        use_mask_token=True),
    neck=dict(
        type='MultiTokenNeck',
        in_channels=embed_dims,
        num_pooled_tokens=4,
        separate_projectors=False,
        projector_call='joint',  # no batch statistics in the head
        projector=dict(
            type='IBOTProjector',
            in_channels=embed_dims,
            out_channels=out_channels,
            hidden_channels=2048,
            bottleneck_channels=256,
            shared_last_layer=True,
            norm_last_layer=False)),
    head=dict(
        type='DINOSlotHead',
        out_channels=out_channels,
        student_temp=0.1,
        teacher_temp=0.07,
        warmup_teacher_temp=0.04,
        warmup_teacher_temp_epochs=30,
        center_momentum=0.9,
        center_per_slot=True),
    patch_loss=dict(
        type='IBOTPatchLoss',
        out_channels=out_channels,
        student_temp=0.1,
        teacher_temp=0.07,
        warmup_teacher_temp=0.04,
        warmup_teacher_temp_epochs=30,
        center_momentum=0.9,
        loss_weight=1.0),
    distill=dict(type='EnsembleDistillLoss', loss_weight=1.0,
                 ensemble=('aux', 'pooled')))
