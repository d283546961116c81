# scikit-learn's digits (real 8x8 images shipped in the wheel, upscaled to
# 16 px) with a DINO-style multi-crop at toy scale: 2 global 16 px crops at
# scale (0.4, 1) and 4 local 8 px crops at (0.1, 0.4). No flips (digits are
# not mirror-symmetric) and no colour jitter (they are grey); blur and
# solarize probabilities as in DINO.
dataset_type = 'DigitsDataset'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
    to_rgb=False)


def _view(size, crop_scale, blur_prob, solarize_prob):
    return [
        dict(type='RandomResizedCrop', scale=size, crop_ratio_range=crop_scale,
             interpolation='bicubic', backend='pillow'),
        dict(type='GaussianBlur', magnitude_range=(0.1, 0.5),
             magnitude_std='inf', prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


image_size = 16
num_local_crops = 4
train_pipeline = [
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='MultiView',
         num_views=[1, 1, num_local_crops],
         transforms=[_view(image_size, (0.4, 1.0), 1.0, 0.0),
                     _view(image_size, (0.4, 1.0), 0.1, 0.2),
                     _view(image_size // 2, (0.1, 0.4), 0.5, 0.0)]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    drop_last=True,
    sampler=dict(type='ResumableSeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, split='train', image_size=image_size,
                 pipeline=train_pipeline))
