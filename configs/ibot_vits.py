# iBOT baseline, ViT-S/16: MTE-iBOT with no auxiliary or pooled tokens and no
# distillation is exactly iBOT (tests/test_models/test_algorithms/
# test_mte_ibot.py).
#   bash tools/dist_train.sh configs/ibot_vits.py 16
_base_ = './mte_ibot_vits.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
