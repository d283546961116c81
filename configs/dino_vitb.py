# DINO baseline, ViT-B/16 (MTE-DINO with N = K = 0 and no distillation).
_base_ = './mte_dino_vitb.py'
model = dict(
    distill_weight=0.0,
    backbone=dict(num_aux_tokens=0, num_pooled_tokens=0))
