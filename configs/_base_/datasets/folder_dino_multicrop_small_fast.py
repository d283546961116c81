# folder_dino_multicrop_small.py with the same augmentation distribution,
# split as in imagenet_dino_multicrop_fast.py: the data workers decode, crop
# and resize (DecodeMultiCrop, which also draws every view's photometric
# parameters) and the data preprocessor applies flip, colour jitter,
# grayscale, blur and solarize batched over the views of one size. At 32 px
# the per-image transforms spend most of their time in per-call overhead, so
# the batched form is faster even on a CPU (tools/benchmarks/
# profile_small_run.py; docs). Full-size decoding (draft=False): the small
# images are resampled as by the per-image pipeline.
_base_ = './folder_dino_multicrop_small.py'
data_preprocessor = dict(type='MultiCropPhotometricPreprocessor')


def _view(num, size, crop_scale, blur_prob, solarize_prob):
    return dict(num=num, size=size, crop_scale=crop_scale,
                photometric=dict(blur_prob=blur_prob,
                                 solarize_prob=solarize_prob,
                                 blur_sigma=(0.1, 0.3)))


image_size = 32
num_local_crops = 4
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='DecodeMultiCrop', interpolation='bicubic', draft=False, views=[
        _view(1, image_size, (0.4, 1.0), 1.0, 0.0),
        _view(1, image_size, (0.4, 1.0), 0.1, 0.2),
        _view(num_local_crops, image_size // 2, (0.05, 0.4), 0.5, 0.0),
    ]),
    dict(type='PackInputs', algorithm_keys=['photometric_params']),
]))
