# ADE20K semantic segmentation, mmseg's UperNet R-50 80k recipe (as mmseg
# 1.2 ships it: SGD lr 0.01, 80k iterations, batch 16 = 4 GPUs x 4),
# initialised from a ResNet-50 exported by tools/export_backbone.py from an
# MTE-BYOL / SimSiam / Barlow Twins checkpoint. One deviation: the backbone
# is mmseg's ResNet (the export's single 7x7 stem) instead of the recipe's
# ResNetV1c (a deep 3-conv stem that an mmpretrain ResNet does not have).
#   bash tools/dist_train.sh configs/seg/upernet_mte_r50_ade20k_512x512_80k.py 4 \
#     --cfg-options model.backbone.init_cfg.checkpoint=exports/epoch_200_teacher_resnet_mmpretrain.pth
_base_ = 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'
model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='exports/mte_byol_resnet50_teacher_resnet_mmpretrain.pth'
        )))
custom_imports = dict(imports=['mte_mm'], allow_failed_imports=False)
