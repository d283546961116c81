# MTE-DINO with mmpretrain's ConvNeXt-T (channels 96-192-384-768, depths
# 3-3-9-3) through FeatureMapTokenAdapter: the global token is ConvNeXt's own
# image feature (global average pool + its final LayerNorm, what its
# classifier reads), the patch tokens are the normed 7 x 7 last-stage map at
# 224 px, K=4 pooled tokens over them (neck). No auxiliary CLS tokens by
# default (N=0, our choice: a ConvNeXt has no token sequence; N > 0 adds
# learnable queries with one class-attention block, training only), so the
# ensemble is the pooled slots. DINO head / loss / momentum: the official
# defaults, as for the ViT. Drop-path 0.1 (ConvNeXt-T's supervised value).
embed_dims = 768
model = dict(
    type='MTEDINO',
    base_momentum=0.004,  # CosineEMA's momentum is the student's weight: 1 - 0.996
    num_global_views=2,
    freeze_last_layer_epochs=1,
    aux_loss_views='global',
    backbone=dict(
        type='FeatureMapTokenAdapter',
        num_aux_tokens=0,
        backbone=dict(
            type='mmpretrain.ConvNeXt',
            arch='tiny',
            out_indices=-1,
            gap_before_final_norm=True,
            drop_path_rate=0.1)),
    neck=dict(
        type='MultiTokenNeck',
        in_channels=embed_dims,
        num_pooled_tokens=4,
        separate_projectors=False,
        projector_call='joint',  # DINO's head has no batch statistics
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
