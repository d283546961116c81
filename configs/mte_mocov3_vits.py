# MTE-MoCo v3, ViT-S/16, ImageNet-1k, 300 epochs, 8 GPUs x 512 = 4096
# images/step (MoCo v3's batch; lr 1.5e-4 x 4096 / 256 = 2.4e-3 via
# auto_scale_lr). Add --amp (--amp-dtype float16: MoCo v3's fp16). With less GPU memory, lower
# train_dataloader.batch_size: auto_scale_lr scales the lr linearly.
#   bash tools/dist_train.sh configs/mte_mocov3_vits.py 8
_base_ = [
    '_base_/models/mte_mocov3_vit_s16.py',
    '_base_/datasets/imagenet_mocov3_fast.py',
    '_base_/schedules/mocov3_adamw_300e.py',
    '_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
