# As the ViT-B config with ViT-S/16 (384 dims, 6 heads) and its export.
_base_ = ['./upernet_mte_vitb_ade20k_512x512_160k.py']
embed_dims = 384
model = dict(
    backbone=dict(
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=6,
                  feedforward_channels=4 * embed_dims),
        init_cfg=dict(
            checkpoint='exports/mte_dino_vits_teacher_vit_mmpretrain.pth')),
    neck=dict(in_channels=[embed_dims] * 4, out_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=embed_dims),
    auxiliary_head=dict(in_channels=embed_dims))
