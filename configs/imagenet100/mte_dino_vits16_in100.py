# MTE-DINO, ViT-S/16, ImageNet-100 (the 100 classes of CMC, Tian et al.
# 2019: imagenet100_classes.txt), 100 epochs: DINO's ViT-S/16 recipe of
# ../mte_dino_vits.py (8 GPUs x 64 = 512 images/step, lr 1e-3 after
# auto_scale_lr, fast multi-crop pipeline) on the subset made by
#   python tools/misc/make_imagenet_subset.py data/imagenet data/imagenet100 \
#       --classes configs/imagenet100/imagenet100_classes.txt
# The paired study (DINO vs MTE, 3 seeds, kNN every 20 epochs) is one
# command; see docs/evidence.md ("ImageNet-100").
_base_ = '../mte_dino_vits.py'
train_dataloader = dict(dataset=dict(data_root='data/imagenet100/'))
default_hooks = dict(checkpoint=dict(interval=20, max_keep_ckpts=1))
