# Linear probe of the pooled-feature export (tools/export_backbone.py
# --pooled): DINO's ViT-S/16 linear-probe recipe (vits_linear_probe.py) with
# the image feature the mean of the normalised pooled tokens of the frozen
# AttentionPooledViT instead of the concatenated CLS tokens of the last 4
# blocks. It keeps MTE's attention pooling at inference (a departure from
# the paper's zero-cost export; tools/benchmarks/pooled_feature_cost.py).
#   --cfg-options model.backbone.init_cfg.checkpoint=exports/epoch_100_teacher_vit_pooled_mmpretrain.pth
_base_ = ['./vits_linear_probe.py']
pretrained = 'exports/mte_dino_vits_teacher_vit_pooled_mmpretrain.pth'
embed_dims = 384
model = dict(
    backbone=dict(
        _delete_=True,
        type='mte_mm.AttentionPooledViT', num_pooled_tokens=4,
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=6,
                  feedforward_channels=4 * embed_dims),
        img_size=224, patch_size=16, out_type='pooled', frozen_stages=12,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=None,
    head=dict(in_channels=embed_dims))
