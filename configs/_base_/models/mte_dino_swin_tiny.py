# MTE-DINO with mmpretrain's Swin-T (embed 96, depths 2-2-6-2, window 7)
# through FeatureMapTokenAdapter: the global token is the mean of Swin's
# normed last-stage map (what its classifier's GlobalAveragePooling reads),
# the patch tokens that 7 x 7 map at 224 px. pad_small_map=True: the 96 px
# local crops have a 3 x 3 last stage, smaller than a window. Drop-path 0.2
# (Swin-T's supervised value). Everything else as for ConvNeXt-T.
_base_ = ['./mte_dino_convnext_tiny.py']
model = dict(
    backbone=dict(
        backbone=dict(
            _delete_=True,
            type='mmpretrain.SwinTransformer',
            arch='tiny',
            img_size=224,
            out_indices=(3, ),
            drop_path_rate=0.2,
            pad_small_map=True)))
