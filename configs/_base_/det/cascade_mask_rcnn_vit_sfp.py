# Cascade Mask R-CNN (3 stages, IoU 0.5 / 0.6 / 0.7) with a plain ViT and the
# simple feature pyramid; RPN, RoI extractors and mask head as in
# mask_rcnn_vit_sfp.py (mmdet 3.x settings).
_base_ = ['./mask_rcnn_vit_sfp.py']


def _stage(stds):
    return dict(
        type='Shared2FCBBoxHead', in_channels=256, fc_out_channels=1024,
        roi_feat_size=7, num_classes=80,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                        target_stds=stds),
        reg_class_agnostic=True,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False,
                      loss_weight=1.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))


def _rcnn(iou):
    return dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=iou,
                      neg_iou_thr=iou, min_pos_iou=iou,
                      match_low_quality=False, ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25,
                     neg_pos_ub=-1, add_gt_as_proposals=True),
        mask_size=28, pos_weight=-1, debug=False)


# The RoI extractors and the mask head are inherited from the Mask R-CNN base.
model = dict(
    type='CascadeRCNN',
    # iBOT's protocol fine-tunes with global attention in every block
    backbone=dict(window_size=0, global_attn_indices=[]),
    roi_head=dict(
        type='CascadeRoIHead',
        num_stages=3,
        stage_loss_weights=[1, 0.5, 0.25],
        bbox_head=[_stage([0.1, 0.1, 0.2, 0.2]),
                   _stage([0.05, 0.05, 0.1, 0.1]),
                   _stage([0.033, 0.033, 0.067, 0.067])]),
    train_cfg=dict(rcnn=[_rcnn(0.5), _rcnn(0.6), _rcnn(0.7)]))
