# MTE-Barlow Twins for the controlled study on one GPU
# (`bash tools/device_check.sh --study`): configs/small/
# mte_barlowtwins_learning.py (the recipe that learns on a 2-core CPU) at the
# standard width of the CIFAR-stem ResNet-18 (stages 64..512 wide, 512-d
# tokens), mmpretrain's batch 256 with LARS lr 0.2 (the small configs'), 100
# epochs, 8 loader workers. On tiny-imagenet-10 at 32 px, two seeds of both
# arms with the controls are sized for about 10 minutes on one H100 (not yet
# run on a GPU: the study's results file says what it took).
# Baseline: the same config with model.neck.num_pooled_tokens=0
# model.distill=None (the study's first arm).
_base_ = './mte_barlowtwins_learning.py'
channels = 512
model = dict(
    backbone=dict(backbone=dict(base_channels=64, stem_channels=64)),
    neck=dict(in_channels=channels, projector=dict(in_channels=channels)))
train_dataloader = dict(batch_size=256, num_workers=8,
                        persistent_workers=True)
optim_wrapper = dict(optimizer=dict(lr=0.2))
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=2,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
