# Mask R-CNN + FPN with mmpretrain's ConvNeXt-T, as mmdet's ConvNeXt recipe
# builds it (mmdet configs/convnext: all 4 stages out, drop-path 0.4, layer
# scale 1.0, no global pooling) and the standard Mask R-CNN heads of
# mask_rcnn_vit_sfp.py. init_cfg loads a plain ConvNeXt checkpoint written by
# tools/export_backbone.py (its keys have no 'backbone.' prefix).
_base_ = ['./mask_rcnn_vit_sfp.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='tiny',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=None)),
    neck=dict(
        _delete_=True,
        type='FPN',
        in_channels=[96, 192, 384, 768],
        out_channels=256,
        num_outs=5))
