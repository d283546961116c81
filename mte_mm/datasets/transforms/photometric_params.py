"""Per-view photometric parameters of DINO's augmentation (Caron et al.,
ICCV 2021), drawn on the CPU and applied later, batched, on the training
device (:class:`~mte_mm.models.MultiCropPhotometricPreprocessor`).

Drawing in the data worker keeps every random draw inside the sample's
seeded stream (:class:`SeedPerSample`), so exact resumes and paired seeds
hold as with the per-image transforms; applying on the device takes the
costliest part of the pipeline off the CPU workers.

A view's parameters are one ``float32`` vector; :data:`PARAM_INDEX` names
its entries. Neutral values (flip 0, factors 1, hue 0, sigma 0, ...) mean
"not applied".
"""
from typing import Dict, Sequence, Tuple

import numpy as np

# colour-jitter operation ids, as in mmpretrain's ColorJitter
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)
PARAM_NAMES = ('flip', 'jitter', 'order_0', 'order_1', 'order_2', 'order_3',
               'brightness', 'contrast', 'saturation', 'hue', 'grayscale',
               'blur_sigma', 'solarize')
PARAM_INDEX: Dict[str, int] = {name: i for i, name in enumerate(PARAM_NAMES)}
NUM_PARAMS = len(PARAM_NAMES)


def _factor_range(value: float, name: str, center: float) -> Tuple[float,
                                                                     float]:
    if value < 0:
        raise ValueError(f'PhotometricRecipe: {name}={value} must be >= 0')
    low = max(0.0, center - value) if center else -value
    return low, center + value


class PhotometricRecipe:
    """DINO's per-view photometric augmentation as parameters:
    flip; with ``jitter_prob`` a colour jitter in random order (brightness
    and contrast factor U(1-b, 1+b), saturation U(1-s, 1+s), hue U(-h, h));
    grayscale; Gaussian blur with sigma U(blur_sigma) and ``blur_prob``;
    solarize. The defaults are DINO's (ColorJitter(0.4, 0.4, 0.2, 0.1) with
    p 0.8, grayscale 0.2, flip 0.5), with the per-view blur and solarize
    probabilities left to the caller.

    Args:
        blur_prob (float): Probability of the Gaussian blur.
        solarize_prob (float): Probability of solarization.
        flip_prob (float): Probability of a horizontal flip.
        jitter_prob (float): Probability of the colour jitter.
        brightness, contrast, saturation, hue (float): Jitter strengths.
        grayscale_prob (float): Probability of converting to grayscale.
        blur_sigma (tuple[float, float]): Range of the blur's sigma (PIL's
            ``GaussianBlur`` radius).
    """

    def __init__(self,
                 blur_prob: float = 0.0,
                 solarize_prob: float = 0.0,
                 flip_prob: float = 0.5,
                 jitter_prob: float = 0.8,
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 saturation: float = 0.2,
                 hue: float = 0.1,
                 grayscale_prob: float = 0.2,
                 blur_sigma: Sequence[float] = (0.1, 2.0)):
        for name, p in (('blur_prob', blur_prob),
                        ('solarize_prob', solarize_prob),
                        ('flip_prob', flip_prob), ('jitter_prob', jitter_prob),
                        ('grayscale_prob', grayscale_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f'PhotometricRecipe: {name}={p} is not a '
                                 'probability')
        if not 0 <= hue <= 0.5:
            raise ValueError(f'PhotometricRecipe: hue={hue} not in [0, 0.5]')
        if len(blur_sigma) != 2 or not 0 < blur_sigma[0] <= blur_sigma[1]:
            raise ValueError(f'PhotometricRecipe: blur_sigma={blur_sigma} '
                             'must be (low, high) with 0 < low <= high')
        self.probs = dict(flip=flip_prob, jitter=jitter_prob,
                          grayscale=grayscale_prob, blur=blur_prob,
                          solarize=solarize_prob)
        self.ranges = dict(
            brightness=_factor_range(brightness, 'brightness', 1.0),
            contrast=_factor_range(contrast, 'contrast', 1.0),
            saturation=_factor_range(saturation, 'saturation', 1.0),
            hue=_factor_range(hue, 'hue', 0.0))
        self.blur_sigma = tuple(float(s) for s in blur_sigma)

    def draw(self) -> np.ndarray:
        """One view's parameters from numpy's global generator (seeded per
        sample by :class:`SeedPerSample`): ``(NUM_PARAMS,)`` float32."""
        rand = np.random
        params = np.zeros(NUM_PARAMS, dtype=np.float32)
        params[PARAM_INDEX['flip']] = rand.rand() < self.probs['flip']
        jitter = rand.rand() < self.probs['jitter']
        order = rand.permutation(4)
        factors = {name: rand.uniform(*bounds)
                   for name, bounds in self.ranges.items()}
        params[PARAM_INDEX['order_0']:PARAM_INDEX['order_3'] + 1] = order
        if jitter:
            params[PARAM_INDEX['jitter']] = 1
            for name, value in factors.items():
                params[PARAM_INDEX[name]] = value
        else:
            params[PARAM_INDEX['brightness']] = 1
            params[PARAM_INDEX['contrast']] = 1
            params[PARAM_INDEX['saturation']] = 1
        params[PARAM_INDEX['grayscale']] = \
            rand.rand() < self.probs['grayscale']
        sigma = rand.uniform(*self.blur_sigma)
        if rand.rand() < self.probs['blur']:
            params[PARAM_INDEX['blur_sigma']] = sigma
        params[PARAM_INDEX['solarize']] = rand.rand() < self.probs['solarize']
        return params

    def __repr__(self) -> str:
        return (f'PhotometricRecipe(probs={self.probs}, ranges={self.ranges},'
                f' blur_sigma={self.blur_sigma})')
