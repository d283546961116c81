# UperNet with a ViT backbone (BEiT / MAE / iBOT protocol): features of blocks
# 4, 6, 8 and 12, a multi-level neck (x4, x2, x1, x0.5), UPerHead and an
# auxiliary FCN head on the third level.
norm_cfg = dict(type='SyncBN', requires_grad=True)
embed_dims = 768
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='mte_mm.TransferViT',  # mmpretrain's ViT: loads the export
        arch=dict(embed_dims=embed_dims, num_layers=12, num_heads=12,
                  feedforward_channels=4 * embed_dims),
        img_size=512, patch_size=16, drop_path_rate=0.1,
        out_indices=[3, 5, 7, 11], out_type='featmap', final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=None)),
    neck=dict(type='MultiLevelNeck', in_channels=[embed_dims] * 4,
              out_channels=embed_dims, scales=[4, 2, 1, 0.5]),
    decode_head=dict(
        type='UPerHead', in_channels=[embed_dims] * 4, in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6), channels=embed_dims, dropout_ratio=0.1,
        num_classes=150, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead', in_channels=embed_dims, in_index=2, channels=256,
        num_convs=1, concat_input=False, dropout_ratio=0.1, num_classes=150,
        norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
