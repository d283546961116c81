# End-to-end fine-tuning, ViT-S/16: as vitb_finetune.py with iBOT's ViT-S
# settings: layer-wise lr decay 0.75, 200 epochs.
_base_ = ['./vitb_finetune.py']
pretrained = 'exports/mte_dino_vits_teacher_vit_mmpretrain.pth'
embed_dims = 384
max_epochs = 200
model = dict(
    backbone=dict(
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=6,
                  feedforward_channels=4 * embed_dims),
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=embed_dims))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1e-6,
         by_epoch=True, begin=5, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
