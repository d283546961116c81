# MoCo v3 baseline, ViT-B/16 (MTE-MoCo v3 with N = K = 0, no distillation).
#   bash tools/dist_train.sh configs/mocov3_vitb.py 8
_base_ = './mte_mocov3_vitb.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
