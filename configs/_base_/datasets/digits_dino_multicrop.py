# scikit-learn's digits (real images shipped in the wheel) with a DINO-style
# multi-crop at toy scale: 2 global 32 px crops at scale (0.5, 1) and 4 local
# 16 px crops at (0.2, 0.5). No flips (digits are not mirror-symmetric) and no
# colour jitter (they are grey); blur / solarize as in DINO.
dataset_type = 'DigitsDataset'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
    to_rgb=False)


def _view(size, crop_scale, blur_prob, solarize_prob):
    return [
        dict(type='RandomResizedCrop', scale=size, crop_ratio_range=crop_scale,
             interpolation='bicubic', backend='pillow'),
        dict(type='GaussianBlur', magnitude_range=(0.1, 1.0),
             magnitude_std='inf', prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


num_local_crops = 4
train_pipeline = [
    dict(type='MultiView',
         num_views=[1, 1, num_local_crops],
         transforms=[_view(32, (0.5, 1.0), 1.0, 0.0),
                     _view(32, (0.5, 1.0), 0.1, 0.2),
                     _view(16, (0.2, 0.5), 0.5, 0.0)]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, split='train', image_size=32,
                 pipeline=train_pipeline))
