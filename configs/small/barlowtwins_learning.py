# The Barlow Twins baseline of configs/small/mte_barlowtwins_learning.py (the
# small recipe that learns on a 2-core CPU): no auxiliary or pooled tokens,
# no distillation.
_base_ = './mte_barlowtwins_learning.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
