"""Controls for a representation study: what weighted kNN reaches with no
learning at all.

A difference between two pretraining arms says something about the
representations they learn only where the base method's features clearly
beat features that need no training:

* **raw pixels**: the evaluation images themselves (the study's resize and
  centre crop), flattened, through the same weighted kNN
  (:func:`pixel_knn`);
* **the untrained network**: the run's own initial weights at the same seed
  (:func:`untrained_knn`).

:func:`learning_regime` turns both into one verdict: the base arm's global
token minus the better control, paired by seed, with a 95 % t-interval, and
whether that margin reaches the threshold (8 points by default).
"""
import math
import statistics
import tempfile
import uuid
from typing import Dict, Sequence

import torch
from torch.utils.data import Dataset

from .knn import knn_accuracy
from .knn_protocol import knn_diagnostics

#: the margin (kNN top-1 points over the better control) below which a study
#: is "not a learning regime"
LEARNING_MARGIN = 8.0


def image_matrix(dataset: Dataset) -> tuple:
    """Every image of ``dataset`` as one flattened float row, and the labels.

    Args:
        dataset (Dataset): An mmpretrain dataset whose pipeline ends in
            ``PackInputs`` (e.g. :func:`build_knn_datasets`'s).

    Returns:
        tuple[Tensor, Tensor]: ``(N, C*H*W)`` float32 pixel values and
        ``(N,)`` int64 labels.
    """
    rows, labels = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        rows.append(item['inputs'].reshape(-1).float())
        labels.append(int(item['data_samples'].gt_label))
    shapes = {row.numel() for row in rows}
    if len(shapes) > 1:
        raise ValueError(f'images of different sizes after the pipeline '
                         f'({sorted(shapes)} values): give a crop')
    return torch.stack(rows), torch.tensor(labels)


def pixel_knn(train_set: Dataset, val_set: Dataset,
              ks: Sequence[int] = (20, ),
              temperature: float = 0.07) -> Dict[int, float]:
    """Weighted kNN top-1 (%) of the raw pixels: each image flattened and
    L2-normalised, as a network's features are in :func:`knn_diagnostics`.
    """
    bank, bank_labels = image_matrix(train_set)
    queries, query_labels = image_matrix(val_set)
    return knn_accuracy(bank, bank_labels, queries, query_labels, ks=ks,
                        temperature=temperature)


def untrained_knn(cfg, seed: int, train_set: Dataset, val_set: Dataset,
                  ks: Sequence[int] = (20, ),
                  temperature: float = 0.07) -> Dict[int, float]:
    """Weighted kNN top-1 (%) of the global token of ``cfg``'s model at its
    initial weights for ``seed``: mmengine's Runner seeds, builds and
    initialises the model as a training run with that seed does before its
    first step, so these are that run's weights.

    Args:
        cfg (Config): A pretraining config; not changed.
        seed (int): ``randomness.seed`` of the run.
    """
    from mmengine.runner import Runner
    cfg = cfg.copy()
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.custom_hooks = []
    cfg.pop('load_from', None)
    with tempfile.TemporaryDirectory(prefix='untrained_knn_') as work_dir:
        cfg.work_dir = work_dir
        # unique: mmengine names its logger and visualizer instances
        # experiment_name + a timestamp in seconds, and two calls within one
        # second would share the first one's (its folder already removed)
        cfg.experiment_name = f'untrained_seed{seed}_{uuid.uuid4().hex[:8]}'
        runner = Runner.from_cfg(cfg)
        model = runner.model
        model.init_weights()  # as Runner.train() does before the first step
        result = knn_diagnostics(model, train_set, val_set, ks=tuple(ks),
                                 temperature=temperature,
                                 with_aux=False)['global']
        # the logger holds a file in work_dir until it is closed
        for handler in list(runner.logger.handlers):
            handler.close()
            runner.logger.removeHandler(handler)
    return result


def t_interval(values: Sequence[float],
               level: float = 0.95) -> tuple:
    """Mean of ``values`` and the half-width of its t-interval (None with
    fewer than 2 values)."""
    from scipy.stats import t
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, None
    half = t.ppf(0.5 + level / 2, len(values) - 1) * \
        statistics.stdev(values) / math.sqrt(len(values))
    return mean, half


def learning_regime(base: Sequence[float],
                    controls: Dict[str, Sequence[float]],
                    threshold: float = LEARNING_MARGIN) -> dict:
    """Whether a study measures learned representations.

    Args:
        base (Sequence[float]): The base arm's global-token kNN, one value
            per seed.
        controls (dict[str, Sequence[float]]): Each control's kNN at the
            same k, either one value per seed (paired with ``base``) or a
            single value that holds for every seed (raw pixels).
        threshold (float): The margin, in points, a learning regime needs.

    Returns:
        dict: ``control`` (the better control: the higher mean),
        ``control_mean``, ``base_mean``, ``margin`` (mean over seeds of
        base minus that control), ``ci95_half_width`` (None with one seed),
        ``diffs`` (per seed), ``threshold`` and ``learning`` (margin >=
        threshold).
    """
    def per_seed(values):
        values = list(values)
        if len(values) == 1:
            return values * len(base)
        if len(values) != len(base):
            raise ValueError(f'{len(values)} control values for '
                             f'{len(base)} seeds')
        return values

    if not controls:
        raise ValueError('learning_regime needs at least one control')
    paired = {name: per_seed(values) for name, values in controls.items()}
    better = max(paired, key=lambda name: statistics.mean(paired[name]))
    diffs = [b - c for b, c in zip(base, paired[better])]
    margin, half = t_interval(diffs)
    return dict(control=better, control_mean=statistics.mean(paired[better]),
                base_mean=statistics.mean(base), margin=margin,
                ci95_half_width=half, diffs=diffs, threshold=threshold,
                learning=margin >= threshold)


def regime_line(regime: dict, base_name: str, k: int) -> str:
    """The one-line verdict of :func:`learning_regime` for a report."""
    half = regime['ci95_half_width']
    margin = f'{regime["margin"]:+.1f}' + ('' if half is None else
                                          f' +- {half:.1f}')
    verdict = ('a learning regime' if regime['learning'] else
               '**not a learning regime**: a difference between arms here '
               'is not evidence about representations')
    return (f'Regime: {base_name}\'s global token minus the better control '
            f'({regime["control"]}, {regime["control_mean"]:.1f}) = '
            f'{margin} points at k={k} (threshold '
            f'{regime["threshold"]:g}): {verdict}.')

