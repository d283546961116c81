# imagenet_dino_multicrop.py with the same augmentation distribution, split
# across devices: the data workers only decode, crop and resize
# (DecodeMultiCrop, which also draws every view's photometric parameters),
# and the data preprocessor applies flip, colour jitter, grayscale, blur and
# solarize batched on the training device (the GPU where there is one).
# Measured: tools/benchmarks/data_pipeline.py (README, "Speed").
# The per-image pipeline stays available: use imagenet_dino_multicrop.py.
_base_ = './imagenet_dino_multicrop.py'
data_preprocessor = dict(type='MultiCropPhotometricPreprocessor')


def _view(num, size, crop_scale, blur_prob, solarize_prob):
    return dict(num=num, size=size, crop_scale=crop_scale,
                photometric=dict(blur_prob=blur_prob,
                                 solarize_prob=solarize_prob))


train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='DecodeMultiCrop', interpolation='bicubic', views=[
        _view(1, 224, (0.4, 1.0), 1.0, 0.0),
        _view(1, 224, (0.4, 1.0), 0.1, 0.2),
        _view(8, 96, (0.05, 0.4), 0.5, 0.0),
    ]),
    dict(type='PackInputs', algorithm_keys=['photometric_params']),
]))
