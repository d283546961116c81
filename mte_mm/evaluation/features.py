"""Frozen-feature extraction from MTE models, per token kind, for kNN and
diagnostics."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dataset import default_collate
from mmengine.dist import all_gather, get_dist_info
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from ..models.backbones.attention_pooled_vit import pooled_image_feature
from ..models.utils.slot_layout import AUXILIARY_KINDS, SlotLayout


def token_features(tokens: Dict[str, Tensor], with_aux: bool,
                   ensemble: Sequence[str] = AUXILIARY_KINDS
                   ) -> Dict[str, Tensor]:
    """Name the features of one batch: ``global``; with ``with_aux`` also
    ``aux_{n}``, ``pooled_{k}``, ``pooled`` (K > 0: the mean of the
    L2-normalised pooled tokens, the feature of the pooled export,
    :class:`AttentionPooledViT`) and ``ensemble``: the mean of the
    L2-normalised features of the ``ensemble`` kinds (the model's distilled
    ensemble, ``model.ensemble_kinds``)."""
    if not with_aux:
        return {'global': tokens['x_norm_clstoken']}
    aux, pooled = tokens['x_norm_auxtokens'], tokens['x_norm_pooledtokens']
    layout = SlotLayout.of(aux, pooled)
    slots = layout.stack(tokens['x_norm_clstoken'][:, None], aux, pooled)
    feats = {name: slots[:, i] for i, name in enumerate(layout.names)}
    if pooled.shape[1]:
        feats['pooled'] = pooled_image_feature(pooled)
    members = slots[:, layout.indices(ensemble)]
    if members.shape[1]:
        feats['ensemble'] = F.normalize(members, dim=-1).mean(1)
    return feats


@torch.no_grad()
def extract_feature_shards(model,
                           dataset: Dataset,
                           source: str = 'teacher',
                           with_aux: bool = True,
                           batch_size: int = 128,
                           num_workers: int = 0,
                           dtype: Optional[torch.dtype] = None
                           ) -> Tuple[Dict[str, Tensor], Tensor, Tensor]:
    """This process's shard (samples ``rank::world_size``) of the features
    of ``dataset`` (whose pipeline ends with ``PackInputs``), nothing
    gathered.

    Args:
        model: An MTE self-supervisor (:class:`BaseMTESelfSupervisor`:
            ``data_preprocessor`` and ``extract_tokens``).
        dataset (Dataset): Labelled evaluation dataset.
        source (str): ``'teacher'`` (default, the DINO protocol) or
            ``'student'``.
        with_aux (bool): Also return auxiliary / pooled / ensemble features.
        dtype (torch.dtype, optional): If given, every batch's features are
            L2-normalised and stored in this dtype as they come (the kNN
            bank: float16 halves it); else kept as float32 as computed.

    Returns:
        tuple[dict[str, Tensor], Tensor, Tensor]: features by kind, labels,
        and the samples' dataset indices (increasing).
    """
    encoders = model.encoders(source)  # checks ``source``
    ensemble = getattr(model, 'ensemble_kinds', AUXILIARY_KINDS)
    was_training = encoders['backbone'].training
    encoders.eval()
    rank, world_size = get_dist_info()
    shard = list(range(rank, len(dataset), world_size))
    loader = DataLoader(Subset(dataset, shard), batch_size=batch_size,
                        shuffle=False, num_workers=num_workers,
                        collate_fn=default_collate)
    chunks, labels = {}, []
    try:
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            tokens = model.extract_tokens(data['inputs'], source, with_aux)
            for name, feat in token_features(tokens, with_aux,
                                                ensemble).items():
                feat = feat.float()
                if dtype is not None:
                    feat = F.normalize(feat, dim=1).to(dtype)
                chunks.setdefault(name, []).append(feat.cpu())
            labels.extend(int(s.gt_label) for s in data['data_samples'])
    finally:
        encoders.train(was_training)
    feats = {}
    for name in list(chunks):  # one kind at a time: no second full copy
        feats[name] = torch.cat(chunks.pop(name))
    return feats, torch.tensor(labels, dtype=torch.long), torch.tensor(
        shard, dtype=torch.long)


@torch.no_grad()
def gather_shards(shard: Tensor, total: int) -> Tensor:
    """Undo the ``rank::world_size`` sharding: all-gather (padded to equal
    size) and interleave back into dataset order."""
    _, world_size = get_dist_info()
    size = -(-total // world_size)
    padded = shard.new_zeros((size, *shard.shape[1:]))
    padded[:shard.shape[0]] = shard
    parts = all_gather(padded)
    # row i of rank r is sample i * world_size + r
    merged = torch.stack(parts, dim=1).reshape(size * world_size,
                                               *shard.shape[1:])
    return merged[:total]
