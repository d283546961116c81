# MoCo v3 baseline, ViT-S/16: MTE-MoCo v3 with no auxiliary or pooled tokens
# and no distillation is exactly mmpretrain's MoCoV3 (tests/test_models/
# test_algorithms/test_mte_mocov3.py).
#   bash tools/dist_train.sh configs/mocov3_vits.py 8
_base_ = './mte_mocov3_vits.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
