# DINO linear probe, ViT-B/16: the last block's normed CLS token concatenated
# with its average-pooled patch tokens (DINO's ViT-B recipe); otherwise as
# vits_linear_probe.py.
_base_ = ['./vits_linear_probe.py']
pretrained = 'exports/mte_dino_vitb_teacher_vit_mmpretrain.pth'
embed_dims = 768
model = dict(
    backbone=dict(
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=12,
                  feedforward_channels=4 * embed_dims),
        out_indices=[11],
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(num_blocks=1, with_avg_pool=True),
    head=dict(in_channels=2 * embed_dims))
