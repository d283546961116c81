# DINO, ViT-S/16, ImageNet-100, 100 epochs: mte_dino_vits16_in100.py with no
# auxiliary or pooled tokens and no distillation, which is exactly DINO.
_base_ = './mte_dino_vits16_in100.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
