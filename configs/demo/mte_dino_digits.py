# The CPU demo: MTE-DINO with a tiny ViT (4 blocks, 64 dims, 4 px patches) on
# scikit-learn's digits, a few minutes on 2 cores. tools/demo.py runs it and
# reports kNN top-1 of the teacher's global token before and after.
_base_ = [
    '../_base_/models/mte_dino_vit_s16.py',
    '../_base_/datasets/digits_dino_multicrop.py',
    '../_base_/schedules/dino_adamw_100e.py',
    '../_base_/default_runtime.py',
]
embed_dims = 64
model = dict(
    backbone=dict(
        arch=dict(embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=32, patch_size=4, drop_path_rate=0.0),
    head=dict(in_channels=embed_dims, out_channels=1024, hidden_channels=256,
              bottleneck_channels=64),
    loss=dict(out_channels=1024))
max_epochs = 8
warmup_epochs = 1
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))
auto_scale_lr = dict(base_batch_size=64)
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
