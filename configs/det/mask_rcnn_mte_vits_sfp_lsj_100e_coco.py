# As the ViT-B config with ViT-S/16 (384 dims, 6 heads) and its export.
_base_ = ['./mask_rcnn_mte_vitb_sfp_lsj_100e_coco.py']
embed_dims = 384
model = dict(
    backbone=dict(
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=6,
                  feedforward_channels=4 * embed_dims),
        init_cfg=dict(
            checkpoint='exports/mte_dino_vits_teacher_vit_mmpretrain.pth')),
    neck=dict(in_channels=embed_dims))
