# COCO 2017 instance segmentation (data/coco/{train2017,val2017,annotations});
# bbox + segm AP with CocoMetric. Pipelines are set by the run configs.
dataset_type = 'CocoDataset'
data_root = 'data/coco/'
backend_args = None
train_dataloader = dict(
    batch_size=2,  # per GPU
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type, data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=None))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'), test_mode=True, pipeline=None))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric', ann_file=data_root + 'annotations/instances_val2017.json',
    metric=['bbox', 'segm'], format_only=False)
test_evaluator = val_evaluator
