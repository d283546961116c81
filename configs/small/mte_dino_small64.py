# configs/small/mte_dino_small.py at the folder's own 64 px: 2 global 64 px
# crops and 4 local 32 px crops, 8 px patches (64 patch tokens per global
# crop instead of 16). Evaluate with --resize 64 --crop 64.
_base_ = './mte_dino_small.py'
image_size = 64
model = dict(backbone=dict(img_size=image_size))


def _view(num, size, crop_scale, blur_prob, solarize_prob):
    return dict(num=num, size=size, crop_scale=crop_scale,
                photometric=dict(blur_prob=blur_prob,
                                 solarize_prob=solarize_prob,
                                 blur_sigma=(0.2, 0.6)))


train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='SeedPerSample'),  # exact resumes: see ExactResumeHook
    dict(type='DecodeMultiCrop', interpolation='bicubic', draft=False, views=[
        _view(1, image_size, (0.4, 1.0), 1.0, 0.0),
        _view(1, image_size, (0.4, 1.0), 0.1, 0.2),
        _view(4, image_size // 2, (0.05, 0.4), 0.5, 0.0),
    ]),
    dict(type='PackInputs', algorithm_keys=['photometric_params']),
]))
