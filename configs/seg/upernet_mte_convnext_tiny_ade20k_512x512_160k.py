# ADE20K semantic segmentation, UperNet + ConvNeXt-T initialised from an
# MTE-DINO (or DINO) ConvNeXt exported by tools/export_backbone.py. mmseg's
# ConvNeXt recipe: 512 x 512, 160k iterations, batch 16 (8 GPUs x 2), AdamW
# lr 1e-4, weight decay 0.05, stage-wise lr decay 0.9 (mmseg's constructor;
# 6 layer groups, ConvNeXt's value for its tiny model), 1500 warm-up
# iterations then poly decay, sliding-window test. Add --amp for fp16.
#   bash tools/dist_train.sh configs/seg/upernet_mte_convnext_tiny_ade20k_512x512_160k.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=exports/epoch_100_teacher_convnext_mmpretrain.pth
_base_ = ['../_base_/seg/upernet_convnext.py', '../_base_/seg/ade20k.py',
          '../_base_/seg/schedule_160k_layer_decay.py',
          '../_base_/seg/seg_runtime.py']
model = dict(backbone=dict(init_cfg=dict(
    checkpoint='exports/mte_dino_convnext_tiny_teacher_convnext_mmpretrain.pth'
)))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    constructor='LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise',
                       num_layers=6))
