# DINO baseline, ViT-S/16: MTE-DINO with no auxiliary or pooled tokens and no
# distillation is exactly DINO (tests/test_models/test_algorithms).
_base_ = './mte_dino_vits.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
