# The Barlow Twins baseline of configs/small/mte_barlowtwins_small.py: no
# auxiliary or pooled tokens, no distillation.
_base_ = './mte_barlowtwins_small.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
