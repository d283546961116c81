# MTE-DINO, Swin-T, ImageNet-1k, 100 epochs, 8 GPUs x 64 = 512 images per
# step. There is no published DINO recipe for Swin; Swin is a transformer, so
# this uses DINO's ViT recipe (AdamW lr 5e-4 x batch / 256, weight decay
# 0.04 -> 0.4, clip 3.0, crops (0.4, 1) / (0.05, 0.4)), as EsViT and iBOT
# train Swin with their ViT optimiser. Add --amp (bf16 where supported).
#   bash tools/dist_train.sh configs/mte_dino_swin_tiny.py 8
_base_ = [
    '_base_/models/mte_dino_swin_tiny.py',
    '_base_/datasets/imagenet_dino_multicrop_fast.py',
    '_base_/schedules/dino_adamw_100e.py',
    '_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=64)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
