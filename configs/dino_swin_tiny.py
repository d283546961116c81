# DINO baseline, Swin-T (MTE-DINO with N = K = 0 and no distillation).
#   bash tools/dist_train.sh configs/dino_swin_tiny.py 8
_base_ = './mte_dino_swin_tiny.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
