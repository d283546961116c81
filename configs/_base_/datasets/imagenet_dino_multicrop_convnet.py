# ImageNet-1k with DINO's multi-crop augmentation at the crop scales of DINO's
# published convolutional run (ResNet-50: global (0.14, 1), local (0.05,
# 0.14)); 2 global 224 px + 8 local 96 px crops; photometric augmentation as
# in imagenet_dino_multicrop.py.
dataset_type = 'CustomDataset'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


def _view(size, crop_scale, blur_prob, solarize_prob):
    # same transforms as imagenet_dino_multicrop.py (a base config's
    # functions are not visible to the configs that inherit it)
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


global_crop_scale = (0.14, 1.0)
local_crop_scale = (0.05, 0.14)
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
