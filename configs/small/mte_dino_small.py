# MTE-DINO for small-image folders (32-64 px) on a CPU or one GPU: a ViT with
# 8 px patches on 32 px crops (16 patch tokens; 128 dims, 4 blocks, 4 heads),
# a 2048-prototype head, N = K = 4 and the other MTE defaults. The starting
# point for a small custom dataset:
#   python tools/train.py configs/small/mte_dino_small.py \
#       --cfg-options train_dataloader.dataset.data_root=data/my_dataset/
# and tools/analysis_tools/compare_methods.py compares it with DINO
# (configs/small/dino_small.py) at paired seeds.
# DINO's recipe except: lr 5e-4 per 64 images (1e-3 at the default batch of
# 128; DINO's 5e-4 per 256 learns too slowly in a few epochs), 2 warm-up
# epochs, 20 epochs. kNN at the training resolution: KNNEvalHook / knn_eval
# with resize=32, crop=32. Data: the fast multi-crop pipeline (photometric
# augmentation batched in the data preprocessor), DINO's distribution; the
# per-image one is '../_base_/datasets/folder_dino_multicrop_small.py'. On
# a machine with fewer cores than runs x (1 + workers), num_workers=0 is
# faster (tools/benchmarks/profile_small_run.py).
_base_ = [
    '../_base_/models/mte_dino_vit_s16.py',
    '../_base_/datasets/folder_dino_multicrop_small_fast.py',
    '../_base_/schedules/dino_adamw_100e.py',
    '../_base_/default_runtime.py',
]
embed_dims = 128
out_channels = 2048
model = dict(
    backbone=dict(
        arch=dict(embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=32, patch_size=8, drop_path_rate=0.0),
    neck=dict(in_channels=embed_dims,
              projector=dict(in_channels=embed_dims,
                             out_channels=out_channels, hidden_channels=512,
                             bottleneck_channels=64)),
    head=dict(out_channels=out_channels))
max_epochs = 20
warmup_epochs = 2
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=5e-4))
auto_scale_lr = dict(base_batch_size=64)
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
