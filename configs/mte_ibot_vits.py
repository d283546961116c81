# MTE-iBOT, ViT-S/16, ImageNet-1k, iBOT's official ViT-S/16 recipe: 800
# epochs, batch 16 GPUs x 64 = 1024 (lr 5e-4 x 1024 / 256 = 2e-3 via
# auto_scale_lr, which rescales for any GPU count). Add --amp (--amp-dtype float16: iBOT's fp16).
#   bash tools/dist_train.sh configs/mte_ibot_vits.py 16
_base_ = [
    '_base_/models/mte_ibot_vit_s16.py',
    '_base_/datasets/imagenet_ibot_multicrop_fast.py',
    '_base_/schedules/ibot_adamw_800e.py',
    '_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=64)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
