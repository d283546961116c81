# A folder of small images (32-64 px: CIFAR-like, Tiny-ImageNet-like, or your
# own) with DINO's multi-crop augmentation scaled down: 2 global 32 px crops
# at scale (0.4, 1) and 4 local 16 px crops at (0.05, 0.4); flip, colour
# jitter, grayscale and solarize as DINO; Gaussian blur radius U(0.1, 0.3),
# DINO's U(0.1, 2.0) scaled from 224 to 32 px. Reads every image under
# <data_root>/train/ (labels are not used); set data_root to your folder.
dataset_type = 'CustomDataset'
data_root = 'data/my_dataset/'
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
        dict(type='GaussianBlur', magnitude_range=(0.1, 0.3),
             magnitude_std='inf', prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


image_size = 32
num_local_crops = 4
train_pipeline = [
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiView',
         num_views=[1, 1, num_local_crops],
         transforms=[
             _view(image_size, (0.4, 1.0), 1.0, 0.0),
             _view(image_size, (0.4, 1.0), 0.1, 0.2),
             _view(image_size // 2, (0.05, 0.4), 0.5, 0.0),
         ]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='ResumableSeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))
