# MoCo v3's ViT optimisation recipe (Chen, Xie, He, ICCV 2021; official
# main_moco.py) through mmengine's own mechanisms: AdamW (betas 0.9, 0.999),
# lr 1.5e-4 x batch / 256 (auto_scale_lr: 2.4e-3 at 4096), weight decay 0.1 on
# all parameters, 40 linear warm-up epochs then cosine to 0, 300 epochs, no
# gradient clipping. fp16 (the official default) is opt-in with `--amp --amp-dtype float16`.
max_epochs = 300
warmup_epochs = 40
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-4, betas=(0.9, 0.999),
                   weight_decay=0.1))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# lr above is for a total batch of 256 (MoCo v3's linear scaling rule)
auto_scale_lr = dict(base_batch_size=256, enable=True)
