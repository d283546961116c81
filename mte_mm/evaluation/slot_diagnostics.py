"""How the token slots of a Multi-Token Enhancing model (MTE, arXiv
2411.15787) differ from the global token, and what their ensemble adds: the
numbers that say whether there is anything to distil and whether the
distillation moved it.

Per non-global slot j (teacher by default, on labelled images):

* ``cos_to_global``: mean cosine of slot j's token feature to the global
  token's (the features kNN reads);
* distribution heads (DINO, iBOT): ``agreement``, the fraction of images whose
  arg-max prototype of slot j's target equals the global slot's, and ``js``,
  the Jensen-Shannon divergence (nats, in [0, ln 2]) of the two targets;
  embedding heads (MoCo v3): ``target_cos``, the cosine of the two keys;

per kind with at least two slots, ``pairwise_cos``: the mean cosine between
two different slots of that kind (how alike the members are); and from a kNN
result, the **ensemble gain** per k: ensemble minus global, and ensemble minus
the mean of its members.
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.dataset import default_collate
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..models.utils.slot_layout import AUXILIARY_KINDS, SlotLayout


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence (nats) of distributions over the last
    dim."""
    m = (p + q) / 2

    def kl(a):
        return (torch.special.xlogy(a, a) -
                torch.special.xlogy(a, m)).sum(-1)

    return (kl(p) + kl(q)) / 2


class SlotStatistics:
    """Accumulates the per-slot statistics over batches.

    Args:
        layout (SlotLayout): The model's slot layout.
        target_kind (str): ``'probabilities'`` or ``'embeddings'`` (the
            head's :attr:`BaseSlotHead.target_kind`).
    """

    def __init__(self, layout: SlotLayout, target_kind: str):
        self.layout = layout
        self.target_kind = target_kind
        self.sums: Dict[str, Dict[str, float]] = {}
        self.count = 0

    def _add(self, name: str, metric: str, value: Tensor) -> None:
        slot = self.sums.setdefault(name, {})
        slot[metric] = slot.get(metric, 0.0) + float(value.double().sum())

    @torch.no_grad()
    def update(self, features: Tensor, targets: Tensor) -> None:
        """One batch: slot features ``(B, S, C)`` and the head's targets
        ``(B, S, D)`` (probabilities or keys)."""
        features = F.normalize(features.double(), dim=-1)
        targets = targets.double()
        names = self.layout.names
        for j in range(1, self.layout.num_slots):
            self._add(names[j], 'cos_to_global',
                      (features[:, j] * features[:, 0]).sum(-1))
            if self.target_kind == 'probabilities':
                self._add(names[j], 'agreement',
                          (targets[:, j].argmax(-1) ==
                           targets[:, 0].argmax(-1)).double())
                self._add(names[j], 'js',
                          js_divergence(targets[:, j], targets[:, 0]))
            else:
                keys = F.normalize(targets, dim=-1)
                self._add(names[j], 'target_cos',
                          (keys[:, j] * keys[:, 0]).sum(-1))
        for kind in AUXILIARY_KINDS:
            part = features[:, self.layout.slice(kind)]
            count = part.shape[1]
            if count < 2:
                continue
            gram = part @ part.transpose(1, 2)  # (B, n, n)
            off_diagonal = (gram.sum((1, 2)) - gram.diagonal(
                dim1=1, dim2=2).sum(-1)) / (count * (count - 1))
            self._add(kind, 'pairwise_cos', off_diagonal)
        self.count += features.shape[0]

    def compute(self) -> Dict[str, Dict[str, float]]:
        """``{slot or kind: {metric: mean over images}}``."""
        if not self.count:
            raise ValueError('SlotStatistics: no batch was added')
        return {name: {metric: value / self.count
                       for metric, value in metrics.items()}
                for name, metrics in self.sums.items()}


def ensemble_gain(knn: Dict[str, Dict[int, float]],
                  ensemble_members: Sequence[str]
                  ) -> Dict[str, Dict[int, float]]:
    """``vs_global``: ensemble minus global token kNN; ``vs_members``:
    ensemble minus the mean of its members' kNN; per k. Empty when ``knn``
    has no ensemble."""
    if 'ensemble' not in knn:
        return {}
    members = [knn[name] for name in ensemble_members]
    gains = dict(vs_global={}, vs_members={})
    for k, value in knn['ensemble'].items():
        gains['vs_global'][k] = value - knn['global'][k]
        gains['vs_members'][k] = value - sum(m[k] for m in members) / \
            len(members)
    return gains


def ensemble_member_names(model) -> list:
    """Slot names of the model's distilled ensemble (``model.layout``,
    ``model.ensemble_kinds``)."""
    layout = model.layout
    return [layout.names[i] for i in layout.indices(model.ensemble_kinds)]


@torch.no_grad()
def slot_diagnostics(model,
                     dataset: Dataset,
                     source: str = 'teacher',
                     batch_size: int = 128,
                     num_workers: int = 0,
                     max_images: Optional[int] = None,
                     knn: Optional[Dict[str, Dict[int, float]]] = None
                     ) -> Dict[str, Dict]:
    """The statistics of :class:`SlotStatistics` on ``dataset`` (whose
    pipeline ends with ``PackInputs``), and with ``knn`` (a
    :func:`knn_diagnostics` result of the same model) the ensemble gain.

    Args:
        model: An MTE self-supervisor (:class:`BaseMTESelfSupervisor`).
        dataset (Dataset): Images to measure (labels unused).
        source (str): ``'teacher'`` (default) or ``'student'``.
        max_images (int, optional): Measure the first ``max_images`` only.
        knn (dict, optional): kNN top-1 per token kind and k.

    Returns:
        dict: ``{'slots': {name: {metric: value}}, 'ensemble_gain':
        {'vs_global' | 'vs_members': {k: points}}}``.
    """
    encoders = model.encoders(source)
    was_training = encoders['backbone'].training
    encoders.eval()
    stats = SlotStatistics(model.layout, model.head.target_kind)
    if max_images is not None:
        dataset = torch.utils.data.Subset(
            dataset, range(min(max_images, len(dataset))))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=default_collate)
    epoch = model.current_epoch()
    try:
        for batch in loader:
            images = model.data_preprocessor(batch, False)['inputs']
            out = model.encode(encoders, images)
            targets = model.head.targets(out['projected'][None], epoch)[0]
            stats.update(out['slots'], targets)
    finally:
        encoders.train(was_training)
    result = dict(slots=stats.compute() if model.layout.num_slots > 1
                  else {})
    result['ensemble_gain'] = ensemble_gain(
        knn, ensemble_member_names(model)) if knn else {}
    return result


def flatten_diagnostics(diagnostics: Dict[str, Dict]) -> Dict[str, float]:
    """``{'<slot>/<metric>': v, 'ensemble_gain_<vs>_k<k>': v}``: scalar
    names for loggers (the hook prefixes them with ``diag/``)."""
    flat = {f'{name}/{metric}': value
            for name, metrics in diagnostics['slots'].items()
            for metric, value in metrics.items()}
    for vs, per_k in diagnostics['ensemble_gain'].items():
        for k, value in per_k.items():
            flat[f'ensemble_gain_{vs}_k{k}'] = value
    return flat


def format_diagnostics(diagnostics: Dict[str, Dict]) -> str:
    """A plain-text table: one row per slot or kind, one column per
    metric; then the ensemble gain per k."""
    slots = diagnostics['slots']
    metrics = sorted({m for values in slots.values() for m in values})
    lines = [f'{"slot":<10}' + ''.join(f'{m:>15}' for m in metrics)]
    for name, values in slots.items():
        lines.append(f'{name:<10}' + ''.join(
            f'{values[m]:>15.4f}' if m in values else f'{"-":>15}'
            for m in metrics))
    for vs, per_k in diagnostics['ensemble_gain'].items():
        lines.append(f'ensemble gain {vs}: ' + ', '.join(
            f'k={k} {v:+.2f}' for k, v in per_k.items()))
    return '\n'.join(lines)
