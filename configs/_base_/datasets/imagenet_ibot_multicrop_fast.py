# imagenet_ibot_multicrop.py (iBOT's crop scales, 2 + 10 crops, block masks)
# as a device-side photometric pipeline: see imagenet_dino_multicrop_fast.py.
_base_ = './imagenet_ibot_multicrop.py'
data_preprocessor = dict(type='MultiCropPhotometricPreprocessor')


def _view(num, size, crop_scale, blur_prob, solarize_prob):
    return dict(num=num, size=size, crop_scale=crop_scale,
                photometric=dict(blur_prob=blur_prob,
                                 solarize_prob=solarize_prob))


train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='DecodeMultiCrop', interpolation='bicubic', views=[
        _view(1, 224, (0.25, 1.0), 1.0, 0.0),
        _view(1, 224, (0.25, 1.0), 0.1, 0.2),
        _view(10, 96, (0.05, 0.25), 0.5, 0.0),
    ]),
    # must match model.backbone.patch_size
    dict(type='IBOTBlockMasks', patch_size=16, pred_ratio=(0.0, 0.3),
         pred_ratio_var=(0.0, 0.2)),
    dict(type='PackInputs', algorithm_keys=['masks', 'photometric_params']),
]))
