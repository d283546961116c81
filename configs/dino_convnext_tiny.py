# DINO baseline, ConvNeXt-T: MTE-DINO with no auxiliary or pooled tokens and
# no distillation is exactly DINO on the wrapped ConvNeXt
# (tests/test_models/test_algorithms/test_mte_dino_feature_map.py).
#   bash tools/dist_train.sh configs/dino_convnext_tiny.py 8
_base_ = './mte_dino_convnext_tiny.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
