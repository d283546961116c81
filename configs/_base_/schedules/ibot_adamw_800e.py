# iBOT's optimisation recipe (Zhou et al., ICLR 2022; official ViT-S/16,
# 800 epochs), DINO's schedule shape (dino_adamw_100e.py) at 800 epochs:
# AdamW, lr 5e-4 x batch / 256 (auto_scale_lr), 10 linear warm-up epochs then
# cosine to 1e-6; weight decay cosine 0.04 -> 0.4, none on biases and 1-D
# parameters; gradient clipping at 3.0.
# Deviations: mmengine clips the global gradient norm (iBOT clips each
# parameter's norm); fp16 (iBOT's default) is opt-in with `--amp --amp-dtype float16`.
max_epochs = 800
warmup_epochs = 10
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999),
                   weight_decay=0.04),
    paramwise_cfg=dict(bias_decay_mult=0.0, norm_decay_mult=0.0,
                       flat_decay_mult=0.0),
    clip_grad=dict(max_norm=3.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=256, enable=True)
