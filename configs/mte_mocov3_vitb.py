# MTE-MoCo v3, ViT-B/16 (embed 768, 12 blocks, 12 heads), ImageNet-1k, 300
# epochs, 8 GPUs x 512 = 4096 images/step: the same official recipe as ViT-S
# (MoCo v3 trains ViT-B with the ViT-S hyper-parameters). Add --amp (bf16 where supported);
# with less GPU memory lower train_dataloader.batch_size (auto_scale_lr).
#   bash tools/dist_train.sh configs/mte_mocov3_vitb.py 8
_base_ = './mte_mocov3_vits.py'
embed_dims = 768
model = dict(
    backbone=dict(arch='base'),
    neck=dict(in_channels=embed_dims,
              projector=dict(in_channels=embed_dims)))
