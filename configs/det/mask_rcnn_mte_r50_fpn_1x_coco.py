# COCO instance segmentation, mmdet's Mask R-CNN R-50 FPN 1x recipe (as
# mmdet 3.3 ships it: SGD lr 0.02, 12 epochs, batch 16 = 8 GPUs x 2),
# initialised from a ResNet-50 exported by tools/export_backbone.py from an
# MTE-BYOL / SimSiam / Barlow Twins checkpoint (mmpretrain's ResNet and
# mmdet's have the same keys).
#   bash tools/dist_train.sh configs/det/mask_rcnn_mte_r50_fpn_1x_coco.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=exports/epoch_200_teacher_resnet_mmpretrain.pth
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
model = dict(backbone=dict(init_cfg=dict(
    type='Pretrained',
    checkpoint='exports/mte_byol_resnet50_teacher_resnet_mmpretrain.pth')))
custom_imports = dict(imports=['mte_mm'], allow_failed_imports=False)
