# ImageNet-1k with MoCo v3's ViT augmentation (Chen, Xie, He, ICCV 2021,
# official code): 2 views of 224 px at crop scale (0.08, 1) (bilinear);
# ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2, BYOL's asymmetric
# Gaussian blur (radius U(0.1, 2.0); p 1.0 on view 1, 0.1 on view 2) and
# solarize (p 0 / 0.2), flip 0.5.
# Reads every image under data/imagenet/train/ (labels are not used; set
# ann_file='meta/train.txt' to skip the folder scan).
dataset_type = 'CustomDataset'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


def _view(blur_prob, solarize_prob):
    return [
        dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.),
             backend='pillow'),
        dict(type='RandomApply',
             transforms=[dict(type='ColorJitter', brightness=0.4,
                              contrast=0.4, saturation=0.2, hue=0.1)],
             prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
        dict(type='RandomFlip', prob=0.5),
    ]


train_pipeline = [
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[_view(1.0, 0.0), _view(0.1, 0.2)]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=512,  # per GPU: 8 x 512 = 4096, MoCo v3's batch
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
