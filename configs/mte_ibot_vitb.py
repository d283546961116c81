# MTE-iBOT, ViT-B/16 (embed 768, 12 blocks, 12 heads), ImageNet-1k.
# iBOT's public README gives the full argument list for ViT-S/16 only (the
# ViT-B/16 arguments are in a downloadable args file we cannot read here), so
# every value but the architecture is the ViT-S/16 recipe: 800 epochs, batch
# 16 x 64 = 1024, teacher temperature 0.04 -> 0.07 over 30 epochs, crops
# (0.25, 1) / (0.05, 0.25), shared last layer. Change them with
# --cfg-options to match iBOT's ViT-B args file if you have it.
#   bash tools/dist_train.sh configs/mte_ibot_vitb.py 16
_base_ = './mte_ibot_vits.py'
embed_dims = 768
model = dict(
    backbone=dict(arch=dict(embed_dims=embed_dims, num_layers=12,
                            num_heads=12, feedforward_channels=4 * embed_dims)),
    neck=dict(in_channels=embed_dims,
              projector=dict(in_channels=embed_dims)))
