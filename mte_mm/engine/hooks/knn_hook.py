"""Online kNN monitoring during self-supervised pretraining (DINO protocol,
Caron et al., ICCV 2021), as lightly / solo-learn users know it."""
import time
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from ...registry import HOOKS

from ...evaluation import (build_knn_datasets, flatten_diagnostics,
                           knn_diagnostics, slot_diagnostics)


@HOOKS.register_module()
class KNNEvalHook(Hook):
    """Every ``interval`` epochs, weighted-kNN top-1 of the model's features
    on a labelled train/val pair, stored in the message hub as
    ``knn/<token>_top1_k<k>``, written to the visualizer (TensorBoard / WandB
    / local backends plot it against the iteration) and logged.

    Args:
        data_root (str, optional): ``train/<class>/*`` and ``val/<class>/*``.
        train (dict, optional): mmpretrain dataset config (with ``val``),
            instead of ``data_root``.
        val (dict, optional): See ``train``.
        interval (int): Epochs between evaluations. Defaults to 1.
        ks (Sequence[int]): Defaults to (20,), DINO's headline k.
        source (str): ``'teacher'`` (default) or ``'student'``.
        with_aux (bool): Also evaluate auxiliary / pooled / ensemble
            features. Defaults to False (the global token only).
        resize (int), crop (int): Evaluation transform for ``data_root``.
        slot_diagnostics (bool): With ``with_aux``, also the slot
            diagnostics (:func:`slot_diagnostics` on the val set: each
            slot's similarity to the global token, the ensemble gain), as
            ``diag/<slot>/<metric>`` and ``diag/ensemble_gain_<vs>_k<k>``.
            Defaults to False.
    """

    priority = 'LOW'

    def __init__(self,
                 data_root: Optional[str] = None,
                 train: Optional[dict] = None,
                 val: Optional[dict] = None,
                 interval: int = 1,
                 ks: Sequence[int] = (20, ),
                 temperature: float = 0.07,
                 source: str = 'teacher',
                 with_aux: bool = False,
                 resize: int = 256,
                 crop: int = 224,
                 batch_size: int = 128,
                 num_workers: int = 0,
                 slot_diagnostics: bool = False):
        if interval < 1:
            raise ValueError(f'KNNEvalHook: interval must be >= 1, got {interval}')
        self.dataset_args = dict(data_root=data_root, train=train, val=val,
                                 resize=resize, crop=crop)
        self.interval = interval
        self.knn_args = dict(ks=tuple(ks), temperature=temperature,
                             source=source, with_aux=with_aux,
                             batch_size=batch_size, num_workers=num_workers)
        self.slot_diagnostics = slot_diagnostics and with_aux
        self._datasets = None

    def after_train_epoch(self, runner) -> None:
        if not self.every_n_epochs(runner, self.interval):
            return
        if self._datasets is None:  # built once, on first use
            self._datasets = build_knn_datasets(**self.dataset_args)
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        start = time.perf_counter()
        results = knn_diagnostics(model, *self._datasets, **self.knn_args)
        scalars = {f'knn/{name}_top1_k{k}': acc
                   for name, accs in results.items() for k, acc in accs.items()}
        if self.slot_diagnostics:
            diagnostics = slot_diagnostics(
                model, self._datasets[1], source=self.knn_args['source'],
                batch_size=self.knn_args['batch_size'],
                num_workers=self.knn_args['num_workers'], knn=results)
            scalars.update({f'diag/{name}': value for name, value in
                            flatten_diagnostics(diagnostics).items()})
        # how long the evaluation took (tools/benchmarks/profile_small_run.py)
        scalars['perf/knn_eval_seconds'] = time.perf_counter() - start
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        # written once per evaluation (a 'train/' hub key would be re-logged
        # at every logging interval until the next evaluation)
        runner.visualizer.add_scalars(scalars, step=runner.iter)
        runner.logger.info(f'Epoch {runner.epoch} kNN top-1: ' + ', '.join(
            f'{k} {v:.2f}' for k, v in scalars.items()
            if k.startswith('knn/')))
