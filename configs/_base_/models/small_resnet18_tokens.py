# The token backbone of the small two-view configs (configs/small/
# mte_{byol,simsiam,barlowtwins}_small.py): a half-width ResNet-18 with the
# CIFAR stem (stages 32..256 wide; at 32 px a 4 x 4 last-stage map, 16 patch
# tokens for the pooled tokens) inside FeatureMapTokenAdapter, no auxiliary
# CLS token.
model = dict(
    backbone=dict(
        type='FeatureMapTokenAdapter',
        num_aux_tokens=0,
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=32,
                      stem_channels=32, norm_cfg=dict(type='SyncBN'))))
