"""Distillation of the auxiliary-token ensemble into the global token, the
core of Multi-Token Enhancing (MTE, Li et al., arXiv 2411.15787)."""
from typing import Optional, Sequence, Union

from mmengine.model import BaseModule
from torch import Tensor

from ...registry import MODELS
from ..heads.slot_head import BaseSlotHead
from ..utils.slot_layout import AUXILIARY_KINDS, SlotLayout


@MODELS.register_module()
class EnsembleDistillLoss(BaseModule):
    """``loss_weight * head.loss(student global slot,
    head.aggregate(teacher targets of the ensemble slots))``.

    The ensemble target is built by the base method's own head (DINO: the
    mean of the slots' teacher probabilities; MoCo v3: the normalised mean
    of the slots' momentum keys) and the global token learns it with the
    base method's own criterion and view pairs, so this loss works with any
    head keeping the :class:`BaseSlotHead` contract.

    Args:
        loss_weight (float): lambda. Defaults to 1.0.
        ensemble (Sequence[str]): Token kinds whose slots form the teacher
            ensemble, from ``('aux', 'pooled')``. Defaults to both: the
            paper calls both kinds auxiliary tokens.
    """

    def __init__(self, loss_weight: float = 1.0,
                 ensemble: Sequence[str] = AUXILIARY_KINDS,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        unknown = set(ensemble) - set(AUXILIARY_KINDS)
        if unknown or not ensemble:
            raise ValueError(f'EnsembleDistillLoss: ensemble={ensemble!r}; '
                             f'choose token kinds from {AUXILIARY_KINDS}')
        if loss_weight < 0:
            raise ValueError('EnsembleDistillLoss: loss_weight must be >= 0, '
                             f'got {loss_weight}')
        self.loss_weight = loss_weight
        self.ensemble = tuple(ensemble)

    def slots(self, layout: SlotLayout) -> list:
        """Indices of the ensemble slots in ``layout``."""
        return layout.indices(self.ensemble)

    def forward(self, head: BaseSlotHead,
                global_predictions: Union[Tensor, Sequence[Tensor]],
                targets: Tensor, layout: SlotLayout) -> Optional[Tensor]:
        """The weighted loss, or None when there is nothing to distil
        (weight 0, or no slot of the ensemble kinds).

        Args:
            head (BaseSlotHead): The algorithm's head.
            global_predictions (Tensor | Sequence[Tensor]): The student's
                global-slot predictions ``(V, B, 1, D)`` (or view groups).
            targets (Tensor): All teacher targets ``(V_t, B, S, D)``.
            layout (SlotLayout): The model's slot layout.
        """
        slots = self.slots(layout)
        if self.loss_weight == 0 or not slots:
            return None
        ensemble = head.aggregate(targets[:, :, slots])
        return self.loss_weight * head.loss(global_predictions,
                                            ensemble).sum()
