# MTE-Barlow Twins, the small recipe that learns on a 2-core CPU: for a
# controlled study of MTE on real images where the base method clearly beats
# its controls (raw-pixel kNN and the untrained network). Measured on
# tiny-imagenet-10 (5000 train / 500 val images, 10 classes) at 32 px:
# Barlow Twins' global token ended at 39.8 % kNN top-1 (k=20; 43.0 % at
# epoch 30), 10.2 points above the raw pixels' 29.6 % and 13.6 above the
# untrained network (seed 0; docs/evidence.md, "Probes with the controls").
# What it is: configs/small/mte_barlowtwins_small.py at quarter width (the
# CIFAR-stem ResNet-18's stages 16..128 wide, 128-d tokens), batch 64, LARS
# lr 0.1, 40 epochs, no loader workers (two runs share the 2 cores).
# Cost: 47 min a run with two runs side by side on 2 cores.
# Baseline: configs/small/barlowtwins_learning.py.
_base_ = './mte_barlowtwins_small.py'
channels = 128  # the quarter-width backbone's last stage
model = dict(
    backbone=dict(backbone=dict(base_channels=16, stem_channels=16)),
    neck=dict(in_channels=channels, projector=dict(in_channels=channels)))
train_dataloader = dict(batch_size=64, num_workers=0,
                        persistent_workers=False)
optim_wrapper = dict(optimizer=dict(lr=0.1))
max_epochs = 40
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=2,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
