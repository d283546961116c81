# DINO baseline, ViT-B/16 (MTE-DINO with N = K = 0 and no distillation).
_base_ = './mte_dino_vitb.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
