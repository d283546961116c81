# imagenet_mocov3.py (MoCo v3's two 224 px views, bilinear) as a device-side
# photometric pipeline: see imagenet_dino_multicrop_fast.py. MoCo v3 flips
# after the photometric transforms, DINO before them; every one of them is
# per pixel or mirror-symmetric (the blur), so the order does not matter.
_base_ = './imagenet_mocov3.py'
data_preprocessor = dict(type='MultiCropPhotometricPreprocessor')
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='DecodeMultiCrop', interpolation='bilinear', views=[
        dict(num=1, size=224, crop_scale=(0.08, 1.0),
             photometric=dict(blur_prob=1.0, solarize_prob=0.0)),
        dict(num=1, size=224, crop_scale=(0.08, 1.0),
             photometric=dict(blur_prob=0.1, solarize_prob=0.2)),
    ]),
    dict(type='PackInputs', algorithm_keys=['photometric_params']),
]))
