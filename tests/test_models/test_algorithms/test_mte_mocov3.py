"""MTE-MoCo v3: with N = K = 0 and no distillation it is mmpretrain's own
MoCoV3 (loss and gradients); per-slot InfoNCE and the ensemble distillation
follow the method spec; keys are gathered across processes."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

import mte_mm  # noqa: F401

from ...conftest import run_gloo_workers

DIM, T = 32, 0.2
ARCH = dict(embed_dims=DIM, num_layers=2, num_heads=4,
            feedforward_channels=64)
PROJECTOR = dict(type='NonLinearNeck', in_channels=DIM, hid_channels=48,
                 out_channels=16, num_layers=3, with_bias=False,
                 with_last_bn=True, with_last_bn_affine=False,
                 with_last_bias=False, with_avg_pool=False,
                 norm_cfg=dict(type='BN1d'))
PREDICTOR = dict(PROJECTOR, in_channels=16, num_layers=2)


def build(num_aux=2, num_pooled=1, distill_weight=1.0):
    torch.manual_seed(0)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(dict(
        type='MTEMoCoV3',
        backbone=dict(type='MTEMoCoV3ViT', arch=ARCH, img_size=32,
                      patch_size=8, stop_grad_conv1=True,
                      num_aux_tokens=num_aux),
        neck=dict(type='MultiTokenNeck', in_channels=DIM,
                  num_pooled_tokens=num_pooled, projector=PROJECTOR),
        head=dict(type='MoCoV3SlotHead', predictor=PREDICTOR,
                  temperature=T),
        distill=dict(type='EnsembleDistillLoss', loss_weight=distill_weight)
        if distill_weight else None,
        data_preprocessor=dict(mean=[0.] * 3, std=[1.] * 3)))
    model.init_weights()
    model.train()
    return model


def two_views(batch=6):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(batch, 3, 32, 32, generator=g) for _ in range(2)]


def test_without_extra_tokens_it_is_mmpretrain_mocov3():
    ours = build(num_aux=0, num_pooled=0, distill_weight=0)
    theirs = MODELS.build(dict(
        type='MoCoV3', base_momentum=0.01,
        backbone=dict(type='MoCoV3ViT', arch=ARCH, img_size=32, patch_size=8,
                      stop_grad_conv1=True),
        neck=PROJECTOR,
        head=dict(type='MoCoV3Head', predictor=PREDICTOR,
                  loss=dict(type='CrossEntropyLoss', loss_weight=2 * T),
                  temperature=T),
        data_preprocessor=dict(mean=[0.] * 3, std=[1.] * 3)))
    theirs.init_weights()  # freezes the sin-cos position embedding
    theirs.train()
    # same weights: neck.projector.module <-> neck, head.predictor.module <->
    # head.predictor, teacher <-> momentum encoder
    mapping = {}
    for key in theirs.state_dict():
        mine = key.replace('neck.', 'neck.projector.module.', 1) if \
            key.startswith('neck.') else key
        mine = mine.replace('head.predictor.', 'head.predictor.module.', 1)
        mine = mine.replace('momentum_encoder.module.0.',
                            'teacher.module.backbone.').replace(
            'momentum_encoder.module.1.',
            'teacher.module.neck.projector.module.')
        mapping[key] = mine.replace('momentum_encoder.', 'teacher.')
    state = ours.state_dict()
    theirs.load_state_dict({k: state[v] for k, v in mapping.items()})
    assert not ours.backbone.patch_embed.projection.weight.requires_grad

    # float64: the two implementations sum in different orders, and float32
    # gradients through the BatchNorm chain differed by up to 1.4e-5 with
    # one thread (float64 keeps the default, much tighter, tolerances)
    ours.double()
    theirs.double()
    inputs = [view.double() for view in two_views()]
    for step in range(2):  # step 1: the momentum encoder has moved
        mine = ours.loss(inputs, None)
        ref = theirs.loss(inputs, None)
        assert set(mine) == {'loss_global'}
        torch.testing.assert_close(mine['loss_global'], ref['loss'])
        ours.zero_grad()
        theirs.zero_grad()
        mine['loss_global'].backward()
        ref['loss'].backward()
        params = dict(ours.named_parameters())
        for key, param in theirs.named_parameters():
            if param.requires_grad:
                torch.testing.assert_close(params[mapping[key]].grad,
                                           param.grad,
                                           msg=lambda m: f'{key}: {m}')
        with torch.no_grad():  # a step, so the encoders drift apart
            for param in list(ours.parameters()) + list(theirs.parameters()):
                if param.grad is not None:
                    param.sub_(0.5 * param.grad)
    # both momentum encoders (and BN statistics) moved the same way
    mine_state, their_state = ours.state_dict(), theirs.state_dict()
    for key, value in their_state.items():
        torch.testing.assert_close(mine_state[mapping[key]], value, msg=key)


def ctr(q, k):
    """Official MoCo v3 contrastive loss, one process."""
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / T
    return 2 * T * F.cross_entropy(logits, torch.arange(q.shape[0]))


def test_per_slot_infonce_uses_negatives_of_the_same_slot_only():
    head = build().head
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(2, 5, 3, 8, generator=g), dim=-1)
    k = F.normalize(torch.randn(2, 5, 3, 8, generator=g), dim=-1)
    per_slot = head.loss(q, k)
    for j in range(3):
        ref = ctr(q[0, :, j], k[1, :, j]) + ctr(q[1, :, j], k[0, :, j])
        torch.testing.assert_close(per_slot[j], ref)
    # other slots' keys are not negatives: changing them leaves slot 0
    k2 = k.clone()
    k2[:, :, 1:] = F.normalize(torch.randn(2, 5, 2, 8, generator=g), dim=-1)
    torch.testing.assert_close(head.loss(q, k2)[0], per_slot[0])


def test_slot_losses_and_distillation_follow_the_spec():
    model = build(num_aux=2, num_pooled=1, distill_weight=0.5)
    inputs = two_views()
    losses = model.loss(inputs, None)
    assert {k for k in losses if 'loss' in k} == {
        'loss_global', 'loss_aux', 'loss_pooled', 'loss_distill'}
    # by hand: at step 0 the momentum encoder equals the student, and each
    # slot goes alone through the projector (its own batch statistics)
    queries, keys = [], []
    for x in inputs:
        t = model.backbone.forward_tokens(x)
        pooled, _ = model.neck.pooling(t['x_norm_patchtokens'])
        slots = torch.cat([t['x_norm_clstoken'][:, None],
                           t['x_norm_auxtokens'], pooled], 1)
        z = [model.neck.projector.module((slots[:, j], ))[0] for j in range(4)]
        keys.append([zj.detach() for zj in z])
        queries.append([model.head.predictor.module((zj, ))[0] for zj in z])
    per_slot = [ctr(queries[0][j], keys[1][j]) + ctr(queries[1][j], keys[0][j])
                for j in range(4)]
    torch.testing.assert_close(losses['loss_global'], per_slot[0] / 4)
    torch.testing.assert_close(losses['loss_aux'],
                               (per_slot[1] + per_slot[2]) / 4)
    torch.testing.assert_close(losses['loss_pooled'], per_slot[3] / 4)
    torch.testing.assert_close(losses['slot_aux'],
                               (per_slot[1] + per_slot[2]).detach() / 2)
    ensemble = [F.normalize(torch.stack(
        [F.normalize(k[j], dim=1) for j in (1, 2, 3)]).mean(0), dim=1)
        for k in keys]
    distill = ctr(queries[0][0], ensemble[1]) + ctr(queries[1][0],
                                                   ensemble[0])
    torch.testing.assert_close(losses['loss_distill'], 0.5 * distill)

    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    params = dict(model.named_parameters())
    for name in ['backbone.aux_tokens', 'neck.pooling.queries',
                 'backbone.cls_token', 'head.predictor.module.fc0.weight']:
        assert params[name].grad.abs().sum() > 0, name
    assert all(p.grad is None for p in model.teacher.parameters())


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match='2 views'):
        build().loss(two_views() * 2, None)
    with pytest.raises(ValueError, match='temperature'):
        MODELS.build(dict(type='MoCoV3SlotHead', predictor=PREDICTOR,
                          temperature=0))


def test_feature_distillation_equals_its_formula():
    """``EnsembleDistillLoss.feature_weight`` on MoCo v3 (the momentum
    encoder's slot features as the ensemble): its formula, as for every
    method."""
    from .test_mte_latent import feature_distill_by_hand
    model = build()
    model.distill.feature_weight = 0.7
    model.double()
    inputs = [v.double() for v in two_views()]
    got = model.loss(inputs, None)['loss_distill_feature']
    torch.testing.assert_close(got, feature_distill_by_hand(model, inputs,
                                                            0.7))


def _gather_worker(rank, q, k):
    from mte_mm.models import MoCoV3SlotHead
    head = MoCoV3SlotHead(predictor=PREDICTOR, temperature=T)
    half = q.shape[1] // 2
    part = slice(rank * half, (rank + 1) * half)
    return head.loss(q[:, part], k[:, part])


def test_keys_are_gathered_across_processes():
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(2, 8, 3, 8, generator=g), dim=-1)
    k = F.normalize(torch.randn(2, 8, 3, 8, generator=g), dim=-1)
    results = run_gloo_workers(_gather_worker, q, k)
    # DDP averages the ranks' gradients: the mean of the ranks' losses is
    # the 1-process loss on the concatenated batch (labels offset by rank)
    full = build().head.loss(q, k)
    torch.testing.assert_close((results[0] + results[1]) / 2, full)
    assert not torch.allclose(results[0], results[1])
