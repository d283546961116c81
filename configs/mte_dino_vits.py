# MTE-DINO, ViT-S/16, ImageNet-1k, 100 epochs, 8 GPUs x 64 = 512 images/step
# (lr 5e-4 x 512 / 256 = 1e-3 via auto_scale_lr). Add --amp for mixed
# precision (bf16 where supported; --amp-dtype float16 for DINO's fp16).
# Data: the fast multi-crop pipeline (photometric augmentation batched on
# the GPU); '_base_/datasets/imagenet_dino_multicrop.py' is the per-image one.
#   bash tools/dist_train.sh configs/mte_dino_vits.py 8
_base_ = [
    '_base_/models/mte_dino_vit_s16.py',
    '_base_/datasets/imagenet_dino_multicrop_fast.py',
    '_base_/schedules/dino_adamw_100e.py',
    '_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=64)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
