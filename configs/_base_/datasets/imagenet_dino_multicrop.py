# ImageNet-1k with DINO's multi-crop augmentation (Caron et al., ICCV 2021,
# official defaults): 2 global 224 px crops at scale (0.4, 1) and 8 local 96 px
# crops at scale (0.05, 0.4); flip 0.5, ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8,
# grayscale 0.2; Gaussian blur radius U(0.1, 2.0) with p 1.0 (global 1),
# 0.1 (global 2), 0.5 (local); solarize p 0.2 (global 2 only).
# Reads every image under data/imagenet/train/ (labels are not used; set
# ann_file='meta/train.txt' to skip the folder scan).
dataset_type = 'CustomDataset'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


def _view(size, crop_scale, blur_prob, solarize_prob):
    return [
        dict(type='RandomResizedCrop', scale=size, crop_ratio_range=crop_scale,
             interpolation='bicubic', backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply',
             transforms=[dict(type='ColorJitter', brightness=0.4,
                              contrast=0.4, saturation=0.2, hue=0.1)],
             prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


global_crop_scale = (0.4, 1.0)
local_crop_scale = (0.05, 0.4)
num_local_crops = 8
train_pipeline = [
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiView',
         num_views=[1, 1, num_local_crops],
         transforms=[
             _view(224, global_crop_scale, 1.0, 0.0),
             _view(224, global_crop_scale, 0.1, 0.2),
             _view(96, local_crop_scale, 0.5, 0.0),
         ]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,  # per GPU
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='ResumableSeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))
