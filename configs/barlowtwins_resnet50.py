# Barlow Twins baseline, ResNet-50: MTE-Barlow Twins with no auxiliary or
# pooled token and no distillation is exactly mmpretrain's BarlowTwins
# (tests/test_models/test_algorithms/test_mte_latent.py), with mmpretrain's
# recipe.
#   bash tools/dist_train.sh configs/barlowtwins_resnet50.py 8
_base_ = './mte_barlowtwins_resnet50.py'
model = dict(
    distill=None,
    backbone=dict(num_aux_tokens=0),
    neck=dict(num_pooled_tokens=0))
