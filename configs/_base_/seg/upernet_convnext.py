# UperNet with mmpretrain's ConvNeXt-T as mmseg's ConvNeXt recipe builds it
# (mmseg configs/convnext: the 4 stage maps straight into UPerHead, drop-path
# 0.4, layer scale 1.0, no global pooling; auxiliary FCN head on stage 3).
_base_ = ['./upernet_vit.py']
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
    neck=None,
    decode_head=dict(in_channels=[96, 192, 384, 768], channels=512),
    auxiliary_head=dict(in_channels=384),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
