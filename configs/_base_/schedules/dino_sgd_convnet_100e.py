# DINO's published recipe for a convolutional backbone (its ResNet-50 run,
# Caron et al., ICCV 2021: --optimizer sgd --lr 0.03 --weight_decay 1e-4
# --weight_decay_end 1e-4, otherwise the defaults): SGD momentum 0.9, lr 0.03
# x batch / 256 (auto_scale_lr), 10 linear warm-up epochs then cosine to 1e-6,
# constant weight decay 1e-4 (none on biases and 1-D parameters), gradient
# clipping at 3.0, 100 epochs. Deviation as for the ViT: mmengine clips the
# global gradient norm (DINO clips each parameter's).
max_epochs = 100
warmup_epochs = 10
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(bias_decay_mult=0.0, norm_decay_mult=0.0,
                       flat_decay_mult=0.0),
    clip_grad=dict(max_norm=3.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=256, enable=True)
