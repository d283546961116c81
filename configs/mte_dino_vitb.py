# MTE-DINO, ViT-B/16 (embed 768, 12 blocks, 12 heads), ImageNet-1k, 100 epochs,
# 8 GPUs x 64 = 512 images/step (lr 5e-4 x 512 / 256 = 1e-3 via auto_scale_lr).
# Same DINO recipe as ViT-S (official defaults); add --amp (--amp-dtype float16: fp16).
#   bash tools/dist_train.sh configs/mte_dino_vitb.py 8
_base_ = './mte_dino_vits.py'
embed_dims = 768
model = dict(
    backbone=dict(arch=dict(embed_dims=embed_dims, num_layers=12,
                            num_heads=12, feedforward_channels=4 * embed_dims)),
    neck=dict(in_channels=embed_dims,
              projector=dict(in_channels=embed_dims)))
