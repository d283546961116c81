"""Slot diagnostics: the statistics against their formulas, and on a
constructed model whose auxiliary slots are copies of the global token
(cosine 1, agreement 1, JS 0, ensemble gain 0)."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from scipy.spatial.distance import jensenshannon

import mte_mm  # noqa: F401
from mte_mm.evaluation import (SlotStatistics, build_knn_datasets,
                               ensemble_gain, flatten_diagnostics,
                               js_divergence, knn_diagnostics,
                               slot_diagnostics)
from mte_mm.models import MTEVisionTransformer
from mte_mm.models.utils.slot_layout import SlotLayout

DIM, OUT = 32, 24


class CopiedGlobalViT(MTEVisionTransformer):
    """Its auxiliary tokens are copies of the global token: every ensemble
    member is the global token (a model whose diagnostics are known)."""

    def forward_tokens(self, x, with_aux=True, mask=None):
        tokens = super().forward_tokens(x, with_aux=with_aux, mask=mask)
        cls = tokens['x_norm_clstoken']
        tokens['x_norm_auxtokens'] = cls[:, None].expand(
            -1, tokens['x_norm_auxtokens'].shape[1], -1)
        return tokens


def build(backbone_type='MTEVisionTransformer', num_aux=2, num_pooled=2,
          distill=True):
    if 'CopiedGlobalViT' not in MODELS.module_dict:
        MODELS.register_module(module=CopiedGlobalViT)
    torch.manual_seed(0)
    MessageHub.get_current_instance().update_info('epoch', 0)
    cfg = dict(
        type='MTEDINO',
        backbone=dict(type=backbone_type,
                      arch=dict(embed_dims=DIM, num_layers=1, num_heads=2,
                                feedforward_channels=64),
                      img_size=64, patch_size=16, num_aux_tokens=num_aux),
        neck=dict(type='MultiTokenNeck', in_channels=DIM,
                  num_pooled_tokens=num_pooled, projector_call='joint',
                  projector=dict(type='DINOProjector', in_channels=DIM,
                                 out_channels=OUT, hidden_channels=32,
                                 bottleneck_channels=16)),
        head=dict(type='DINOSlotHead', out_channels=OUT),
        distill=dict(type='EnsembleDistillLoss') if distill else None,
        data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3))
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_statistics_follow_their_formulas():
    torch.manual_seed(0)
    layout = SlotLayout(num_aux=2, num_pooled=1)
    features = torch.randn(5, 4, 8)
    targets = torch.softmax(torch.randn(5, 4, 6) * 3, -1)
    stats = SlotStatistics(layout, 'probabilities')
    stats.update(features[:3], targets[:3])  # two batches = one
    stats.update(features[3:], targets[3:])
    result = stats.compute()
    assert set(result) == {'aux_0', 'aux_1', 'pooled_0', 'aux'}
    for j, name in enumerate(layout.names[1:], 1):
        cos = [F.cosine_similarity(features[b, j], features[b, 0], 0)
               for b in range(5)]
        agree = [float(targets[b, j].argmax() == targets[b, 0].argmax())
                 for b in range(5)]
        js = [jensenshannon(targets[b, j].numpy(), targets[b, 0].numpy()) ** 2
              for b in range(5)]
        assert result[name]['cos_to_global'] == pytest.approx(
            float(sum(cos) / 5), abs=1e-6)
        assert result[name]['agreement'] == pytest.approx(sum(agree) / 5)
        assert result[name]['js'] == pytest.approx(sum(js) / 5, abs=1e-6)
    pairwise = [F.cosine_similarity(features[b, 1], features[b, 2], 0)
                for b in range(5)]
    assert result['aux']['pairwise_cos'] == pytest.approx(
        float(sum(pairwise) / 5), abs=1e-6)
    # embedding heads: the keys' cosine instead of agreement / JS
    keys = SlotStatistics(layout, 'embeddings')
    keys.update(features, targets)
    assert set(keys.compute()['aux_0']) == {'cos_to_global', 'target_cos'}
    assert keys.compute()['aux_0']['target_cos'] == pytest.approx(float(
        F.cosine_similarity(targets[:, 1], targets[:, 0], -1).mean()),
        abs=1e-6)
    # JS is symmetric, 0 for equal and ln 2 for disjoint distributions
    p, q = torch.tensor([1., 0.]), torch.tensor([0., 1.])
    assert float(js_divergence(p, q)) == pytest.approx(0.6931471805599453)
    assert float(js_divergence(p, p)) == 0.0


def test_ensemble_gain_formula():
    knn = {'global': {20: 30.0}, 'aux_0': {20: 28.0}, 'pooled_0': {20: 34.0},
           'ensemble': {20: 33.0}}
    gains = ensemble_gain(knn, ['aux_0', 'pooled_0'])
    assert gains == {'vs_global': {20: 3.0}, 'vs_members': {20: 2.0}}
    assert ensemble_gain({'global': {20: 30.0}}, []) == {}


def test_copied_slots_have_nothing_to_distil(labelled_folder):
    model = build('CopiedGlobalViT', num_pooled=0)
    train_set, val_set = build_knn_datasets(str(labelled_folder), resize=64,
                                            crop=64)
    knn = knn_diagnostics(model, train_set, val_set, ks=(3, ))
    diagnostics = slot_diagnostics(model, val_set, knn=knn)
    for name in ('aux_0', 'aux_1'):
        slot = diagnostics['slots'][name]
        assert slot['cos_to_global'] == pytest.approx(1.0, abs=1e-6)
        assert slot['agreement'] == 1.0
        assert slot['js'] == pytest.approx(0.0, abs=1e-9)
    assert diagnostics['slots']['aux']['pairwise_cos'] == pytest.approx(
        1.0, abs=1e-6)
    assert diagnostics['ensemble_gain'] == {'vs_global': {3: 0.0},
                                            'vs_members': {3: 0.0}}
    flat = flatten_diagnostics(diagnostics)
    assert flat['aux_0/agreement'] == 1.0
    assert flat['ensemble_gain_vs_global_k3'] == 0.0


def test_real_slots_differ_and_the_ensemble_is_the_distilled_one(
        labelled_folder):
    model = build(num_aux=2, num_pooled=2)
    _, val_set = build_knn_datasets(str(labelled_folder), resize=64, crop=64)
    slots = slot_diagnostics(model, val_set)['slots']
    assert slots['pooled_0']['cos_to_global'] < 0.999
    assert slots['pooled_0']['js'] > 0
    # the kNN "ensemble" is the mean of the distilled kinds only
    from mte_mm.evaluation import extract_feature_shards
    model.distill.ensemble = ('pooled', )
    feats, _, _ = extract_feature_shards(model, val_set)  # one process
    expected = torch.stack([F.normalize(feats[f'pooled_{i}'], dim=-1)
                            for i in range(2)]).mean(0)
    torch.testing.assert_close(feats['ensemble'], expected)
    # the ``pooled`` row (the pooled export's feature) is the same mean
    torch.testing.assert_close(feats['pooled'], expected)
    no_distill = build(num_aux=2, num_pooled=2, distill=False)
    assert no_distill.ensemble_kinds == ('aux', 'pooled')
