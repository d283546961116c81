# iBOT baseline, ViT-B/16 (MTE-iBOT with N = K = 0 and no distillation; the
# ViT-S/16 recipe, see mte_ibot_vitb.py).
_base_ = './mte_ibot_vitb.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
