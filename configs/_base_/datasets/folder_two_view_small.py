# A folder of small images (32-64 px) with BYOL's two asymmetric views scaled
# to 32 px (mmpretrain's imagenet_bs32_byol.py at 224 px): crops at scale
# (0.2, 1) (0.08 leaves too little of a 32 px image), flip, colour jitter
# (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2, Gaussian blur radius
# U(0.1, 0.3) (BYOL's U(0.1, 2.0) scaled from 224 px) with p 1.0 / 0.1 and
# solarize p 0 / 0.2 on views 1 / 2. Reads every image under
# <data_root>/train/ (labels are not used); set data_root to your folder.
dataset_type = 'CustomDataset'
data_root = 'data/my_dataset/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


def _view(blur_prob, solarize_prob):
    return [
        dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.),
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


train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[_view(1.0, 0.0), _view(0.1, 0.2)]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    drop_last=True,
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='train/'),
                 pipeline=train_pipeline))
