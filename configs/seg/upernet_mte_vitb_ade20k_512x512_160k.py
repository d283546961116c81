# ADE20K semantic segmentation, UperNet + ViT-B/16 initialised from an MTE
# backbone exported by tools/export_backbone.py (protocol of BEiT / MAE /
# iBOT: 512 x 512, 160k iterations, batch 16, AdamW with layer decay 0.65).
#   bash tools/dist_train.sh configs/seg/upernet_mte_vitb_ade20k_512x512_160k.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=exports/epoch_100_teacher_vit_mmpretrain.pth
_base_ = ['../_base_/seg/upernet_vit.py', '../_base_/seg/ade20k.py',
          '../_base_/seg/schedule_160k_layer_decay.py',
          '../_base_/seg/seg_runtime.py']
model = dict(backbone=dict(init_cfg=dict(
    checkpoint='exports/mte_dino_vitb_teacher_vit_mmpretrain.pth')))
