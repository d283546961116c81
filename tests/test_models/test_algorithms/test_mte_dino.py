import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

import mte_mm  # noqa: F401
from mte_mm.engine.hooks import zero_frozen_grads

from ..test_heads.test_dino_slot_head import reference_dino_loss

DIM, OUT = 32, 48


def build(num_aux=2, num_pooled=2, distill_weight=1.0, distill_from=None,
          separate_heads=False, projector=None, **kwargs):
    torch.manual_seed(0)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    MessageHub.get_current_instance().update_info('epoch', 0)
    distill = dict(type='EnsembleDistillLoss', loss_weight=distill_weight)
    if distill_from is not None:
        distill['ensemble'] = distill_from
    cfg = dict(
        type='MTEDINO',
        backbone=dict(type='MTEVisionTransformer',
                      arch=dict(embed_dims=DIM, num_layers=2, num_heads=4,
                                feedforward_channels=64),
                      img_size=32, patch_size=8, drop_path_rate=0.1,
                      num_aux_tokens=num_aux),
        neck=dict(type='MultiTokenNeck', in_channels=DIM,
                  num_pooled_tokens=num_pooled, projector_call='joint',
                  separate_projectors=separate_heads,
                  projector=projector or dict(
                      type='DINOProjector', in_channels=DIM,
                      out_channels=OUT, hidden_channels=40,
                      bottleneck_channels=16, norm_last_layer=False)),
        head=dict(type='DINOSlotHead', out_channels=OUT),
        distill=distill,
        data_preprocessor=dict(mean=[0.] * 3, std=[1.] * 3),
        **kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    return model


def views(batch=3):
    g = torch.Generator().manual_seed(1)
    return ([torch.randn(batch, 3, 32, 32, generator=g) for _ in range(2)] +
            [torch.randn(batch, 3, 16, 16, generator=g) for _ in range(3)])


def slot_logits_by_hand(model, inputs):
    """Student logits of every slot on every view and teacher logits on the
    global views, with the (step-0) teacher equal to the student."""
    def slots(x):
        t = model.backbone.forward_tokens(x)
        pooled, _ = model.neck.pooling(t['x_norm_patchtokens'])
        return model.neck.projector.module(torch.cat(
            [t['x_norm_clstoken'][:, None], t['x_norm_auxtokens'], pooled],
            1))

    student = [slots(x) for x in inputs]
    with torch.no_grad():
        teacher = [slots(x) for x in inputs[:2]]
    return student, teacher


def global_view_slot_losses(model, inputs):
    """DINO loss by hand of the 4 slots (N=2, K=1): the global slot on all
    5 views, the others on the 2 global views (``aux_loss_views='global'``)."""
    student, teacher = slot_logits_by_hand(model, inputs)
    return [reference_dino_loss([s[:, j] for s in student[:n_views]],
                                [t[:, j] for t in teacher], torch.zeros(OUT),
                                0.1, 0.04)
            for j, n_views in [(0, 5), (1, 2), (2, 2), (3, 2)]]


def test_without_extra_tokens_it_is_exactly_dino():
    model = build(num_aux=0, num_pooled=0, distill_weight=0.0)
    model.backbone.eval()  # no drop-path, to compare with a second forward
    inputs = views()
    losses = model.loss(inputs, None)
    assert set(losses) == {'loss_global'}
    # DINO by hand: student = head(backbone CLS) on every view, teacher = the
    # (step-0 copy of the) student on the global views, zero centre.
    head = model.neck.projector.module
    student = [head(model.backbone(x)[0]) for x in inputs]
    with torch.no_grad():
        teacher = [head(model.backbone(x)[0]) for x in inputs[:2]]
    ref = reference_dino_loss(student, teacher, torch.zeros(OUT), 0.1, 0.04)
    torch.testing.assert_close(losses['loss_global'], ref)


def test_mte_loss_components_follow_the_spec():
    model = build(num_aux=2, num_pooled=1, distill_weight=0.5,
                  aux_loss_views='all')
    model.backbone.eval()
    inputs = views()
    losses = model.loss(inputs, None)
    assert {k for k in losses if 'loss' in k} == {
        'loss_global', 'loss_aux', 'loss_pooled', 'loss_distill'}
    student, teacher = slot_logits_by_hand(model, inputs)
    per_slot = [reference_dino_loss([s[:, j] for s in student],
                                    [t[:, j] for t in teacher],
                                    torch.zeros(OUT), 0.1, 0.04)
                for j in range(4)]
    torch.testing.assert_close(losses['loss_global'], per_slot[0] / 4)
    torch.testing.assert_close(losses['loss_aux'], sum(per_slot[1:3]) / 4)
    torch.testing.assert_close(losses['loss_pooled'], per_slot[3] / 4)
    # distillation: student global token <- mean of the teacher's aux +
    # pooled probabilities of the other global view
    ensemble = [torch.softmax(t[:, 1:] / 0.04, -1).mean(1) for t in teacher]
    total, pairs = 0.0, 0
    for iq, q in enumerate(ensemble):
        for v, s in enumerate(student):
            if v != iq:
                total = total + (-q * torch.log_softmax(
                    s[:, 0] / 0.1, -1)).sum(-1).mean()
                pairs += 1
    torch.testing.assert_close(losses['loss_distill'], 0.5 * total / pairs)


def test_aux_losses_on_global_views_only():
    model = build(num_aux=2, num_pooled=1)  # default: aux on global views
    model.backbone.eval()
    inputs = views()
    losses = model.loss(inputs, None)
    ref = global_view_slot_losses(model, inputs)
    torch.testing.assert_close(losses['loss_global'], ref[0] / 4)
    torch.testing.assert_close(losses['loss_aux'], (ref[1] + ref[2]) / 4)
    torch.testing.assert_close(losses['loss_pooled'], ref[3] / 4)
    with pytest.raises(ValueError, match="'some'"):
        build(aux_loss_views='some')


def test_distill_from_selects_the_ensemble():
    only_aux = build(num_aux=2, num_pooled=2, distill_from=('aux', ))
    assert only_aux.distill.slots(only_aux.layout) == [1, 2]
    model = build(num_aux=2, num_pooled=2)
    assert model.distill.slots(model.layout) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match='registers'):
        build(distill_from=('registers', ))


def test_teacher_gets_no_gradient_and_student_tokens_do():
    model = build()
    losses = model.loss(views(), None)
    sum(losses.values()).backward()
    assert all(p.grad is None and not p.requires_grad
               for p in model.teacher.parameters())
    params = dict(model.named_parameters())
    for name in ['backbone.aux_tokens', 'neck.pooling.queries',
                 'neck.pooling.key.weight', 'backbone.cls_token',
                 'neck.projector.module.mlp.0.weight']:
        assert params[name].grad is not None and \
            params[name].grad.abs().sum() > 0, name
    # no drop-path in the teacher (the student has it): deterministic
    assert model.backbone.layers[1].attn.out_drop.drop_prob > 0
    assert all(getattr(m, 'drop_prob', 0.0) == 0.0
               for m in model.teacher.modules())
    with torch.no_grad():
        x = views()[0]
        a = model.teacher.module['backbone'].forward_tokens(x)
        b = model.teacher.module['backbone'].forward_tokens(x)
    torch.testing.assert_close(a['x_norm_clstoken'], b['x_norm_clstoken'])
    # epoch 0: the last layer is what FrozenParamsHook freezes
    assert {id(p) for p in model.frozen_parameters()} == {
        id(params[f'neck.projector.module.last_layer.weight_{x}'])
        for x in 'gv'}


def test_ema_update_every_step_matches_cosine_formula():
    model = build()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    MessageHub.get_current_instance().update_info('epoch', 1)  # unfreeze
    for step in range(3):
        teacher_before = {k: v.clone() for k, v in
                          model.teacher.module.state_dict().items()}
        optimizer.zero_grad()
        losses = model.loss(views(), None)
        # the update happened inside loss(), from the current student
        student = model._student().state_dict()
        if step == 0:
            m = 1.0  # CosineEMA copies the student on its first update
        else:
            m = 0.004 * (math.cos(math.pi * step / 10) + 1) / 2
        for key, value in model.teacher.module.named_parameters():
            expected = (1 - m) * teacher_before[key] + m * student[key]
            torch.testing.assert_close(value, expected, msg=key)
        assert int(model.teacher.steps) == step + 1
        sum(losses.values()).backward()
        optimizer.step()
    assert params_differ(model.teacher.module, model._student())


def params_differ(a, b):
    return any((pa - pb).abs().max() > 0 for pa, pb in
               zip(a.parameters(), b.parameters()))


def test_separate_heads():
    model = build(separate_heads=True)
    names = {'.'.join(n.split('.')[:2]) for n, _ in model.named_parameters()}
    assert {'neck.projector', 'neck.aux_projector',
            'neck.pooled_projector'} <= names
    handles = zero_frozen_grads(model)  # as FrozenParamsHook in epoch 0
    losses = model.loss(views(), None)
    sum(losses.values()).backward()
    for handle in handles:
        handle.remove()
    for wrapper in (model.neck.aux_projector, model.neck.pooled_projector):
        assert wrapper.module.mlp[0].weight.grad.abs().sum() > 0
    # epoch 0: DINO's freeze covers every projector's last layer
    for projector in model.neck.projectors():
        assert projector.last_layer.weight_v.grad.abs().sum() == 0
    assert {id(p) for p in model.frozen_parameters()} == {
        id(p) for projector in model.neck.projectors()
        for p in projector.last_layer.parameters()}


def test_freezing_a_projector_without_last_layer_is_named():
    """Refused when the model is built, before any training."""
    linear = dict(type='NonLinearNeck', in_channels=DIM, hid_channels=40,
                  out_channels=OUT, with_avg_pool=False)
    with pytest.raises(TypeError, match=r'MTEDINO: NonLinearNeck has no last '
                       r'layer to freeze; set model\.freeze_last_layer_epochs'
                       r'=0'):
        build(projector=linear)
    assert build(projector=linear,
                 freeze_last_layer_epochs=0).frozen_parameters() == []


def test_global_full_slot_weighting():
    """'global_full': the global token keeps DINO's full loss and the extra
    slots share one unit; the same as 'mean' without extra slots."""
    model = build(num_aux=2, num_pooled=1, distill_weight=0.5,
                  slot_weighting='global_full')
    model.backbone.eval()
    inputs = views()
    losses = model.loss(inputs, None)
    ref = global_view_slot_losses(model, inputs)
    torch.testing.assert_close(losses['loss_global'], ref[0])
    torch.testing.assert_close(losses['loss_aux'], (ref[1] + ref[2]) / 3)
    torch.testing.assert_close(losses['loss_pooled'], ref[3] / 3)
    plain = build(num_aux=0, num_pooled=0, distill_weight=0.0,
                  slot_weighting='global_full')
    mean = build(num_aux=0, num_pooled=0, distill_weight=0.0)
    for model in (plain, mean):
        model.backbone.eval()
    torch.testing.assert_close(plain.loss(inputs, None)['loss_global'],
                               mean.loss(inputs, None)['loss_global'])
    with pytest.raises(ValueError, match="'some'"):
        build(slot_weighting='some')


def build_with(distill, **kwargs):
    """``build`` with extra EnsembleDistillLoss options."""
    model = build(num_aux=2, num_pooled=1, **kwargs)
    model.distill = MODELS.build(dict(type='EnsembleDistillLoss', **distill))
    model.distill.bind(model.head)
    return model


def test_ensemble_replaces_the_global_target():
    """target_mode='replace': the global slot learns the ensemble only; its
    loss against the teacher's global slot is logged, not trained."""
    model = build_with(dict(target_mode='replace', loss_weight=0.5))
    model.backbone.eval()
    inputs = views()
    losses = model.loss(inputs, None)
    assert 'loss_global' not in losses
    ref = global_view_slot_losses(model, inputs)
    torch.testing.assert_close(losses['slot_global'], ref[0])
    torch.testing.assert_close(losses['loss_aux'], (ref[1] + ref[2]) / 4)
    student, teacher = slot_logits_by_hand(model, inputs)
    ensemble = torch.stack([torch.softmax(t[:, 1:] / 0.04, -1).mean(1)
                            for t in teacher])
    from ..test_losses.test_ensemble_distill_loss import cross_view
    global_log_probs = torch.stack([torch.log_softmax(s[:, 0] / 0.1, -1)
                                    for s in student])
    torch.testing.assert_close(losses['loss_distill'],
                               0.5 * cross_view(ensemble, global_log_probs))


def test_feature_distillation_reads_the_slot_features():
    model = build_with(dict(feature_weight=0.7))
    model.backbone.eval()
    inputs = views()
    losses = model.loss(inputs, None)

    def features(x):
        t = model.backbone.forward_tokens(x)
        pooled, _ = model.neck.pooling(t['x_norm_patchtokens'])
        return t['x_norm_clstoken'], torch.cat([t['x_norm_auxtokens'],
                                                pooled], 1)
    cos = []
    for x in inputs[:2]:  # the teacher (= student at step 0) views
        g, members = features(x)
        target = torch.nn.functional.normalize(members, dim=-1).mean(1)
        cos.append(torch.nn.functional.cosine_similarity(g, target, -1))
    torch.testing.assert_close(losses['loss_distill_feature'],
                               0.7 * (1 - torch.stack(cos)).mean())
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.backbone.cls_token.grad.abs().sum() > 0
