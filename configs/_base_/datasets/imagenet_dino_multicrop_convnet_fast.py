# imagenet_dino_multicrop_convnet.py (DINO's convolutional crop scales) as a
# device-side photometric pipeline: see imagenet_dino_multicrop_fast.py.
_base_ = './imagenet_dino_multicrop_convnet.py'
data_preprocessor = dict(type='MultiCropPhotometricPreprocessor')


def _view(num, size, crop_scale, blur_prob, solarize_prob):
    return dict(num=num, size=size, crop_scale=crop_scale,
                photometric=dict(blur_prob=blur_prob,
                                 solarize_prob=solarize_prob))


train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='DecodeMultiCrop', interpolation='bicubic', views=[
        _view(1, 224, (0.14, 1.0), 1.0, 0.0),
        _view(1, 224, (0.14, 1.0), 0.1, 0.2),
        _view(8, 96, (0.05, 0.14), 0.5, 0.0),
    ]),
    dict(type='PackInputs', algorithm_keys=['photometric_params']),
]))
