"""MTE-BYOL, MTE-SimSiam and MTE-Barlow Twins: with N = K = 0 and no
distillation, mmpretrain's BYOL / SimSiam / BarlowTwins built from the same
weights on the same views (loss, gradients, target network, running
statistics, over two steps), on a ResNet and on a ViT; per-slot losses equal
mmpretrain's loss on that slot alone; the distillation equals its formula."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

import mte_mm  # noqa: F401

from ...conftest import run_gloo_workers

BN = dict(type='BN1d')
RESNET = dict(type='ResNet', depth=18, base_channels=8,
              norm_cfg=dict(type='BN'))
VIT = dict(type='VisionTransformer', arch=dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
    img_size=32, patch_size=8)
CHANNELS = dict(resnet=64, vit=32)


def projector(in_channels, avg_pool):
    return dict(type='NonLinearNeck', in_channels=in_channels,
                hid_channels=48, out_channels=16, num_layers=2,
                with_bias=True, with_last_bn=False, with_avg_pool=avg_pool,
                norm_cfg=BN)


PREDICTOR = dict(type='NonLinearNeck', in_channels=16, hid_channels=24,
                 out_channels=16, num_layers=2, with_bias=True,
                 with_last_bn=False, with_avg_pool=False, norm_cfg=BN)
# mmpretrain's algorithm, its head, our head
METHODS = dict(
    byol=('BYOL', dict(type='LatentPredictHead', predictor=PREDICTOR,
                       loss=dict(type='CosineSimilarityLoss')),
          dict(type='LatentPredictSlotHead', predictor=PREDICTOR,
               loss_weight=2.0)),
    simsiam=('SimSiam', dict(type='LatentPredictHead', predictor=PREDICTOR,
                             loss=dict(type='CosineSimilarityLoss')),
             dict(type='LatentPredictSlotHead', predictor=PREDICTOR,
                  loss_weight=0.5)),
    barlowtwins=('BarlowTwins',
                 dict(type='LatentCrossCorrelationHead', in_channels=16,
                      loss=dict(type='CrossCorrelationLoss')),
                 dict(type='LatentCrossCorrelationSlotHead', in_channels=16)),
)
OURS = dict(byol='MTEBYOL', simsiam='MTESimSiam',
            barlowtwins='MTEBarlowTwins')


def token_backbone(arch, num_aux=0):
    if arch == 'resnet':
        return dict(type='FeatureMapTokenAdapter', backbone=RESNET,
                    num_aux_tokens=num_aux, aux_num_heads=2)
    return dict(VIT, type='MTEVisionTransformer', num_aux_tokens=num_aux)


def build_ours(method, arch, num_aux=0, num_pooled=0, distill=None,
               **kwargs):
    extra = dict(base_momentum=0.01) if method == 'byol' else {}
    model = MODELS.build(dict(
        type=OURS[method], backbone=token_backbone(arch, num_aux),
        neck=dict(type='MultiTokenNeck', in_channels=CHANNELS[arch],
                  num_pooled_tokens=num_pooled,
                  projector=projector(CHANNELS[arch], False)),
        head=METHODS[method][2], distill=distill, **extra, **kwargs))
    model.init_weights()
    model.train()
    return model


def build_theirs(method, arch):
    name, head, _ = METHODS[method]
    extra = dict(base_momentum=0.01) if method == 'byol' else {}
    model = MODELS.build(dict(
        type=name, backbone=RESNET if arch == 'resnet' else VIT,
        neck=projector(CHANNELS[arch], arch == 'resnet'), head=head,
        **extra))
    model.init_weights()
    model.train()
    return model


def their_key(key):
    """Our state-dict key -> mmpretrain's."""
    for ours, theirs in (
            ('teacher.module.backbone.backbone.', 'target_net.module.0.'),
            ('teacher.module.backbone.', 'target_net.module.0.'),
            ('teacher.module.neck.projector.module.', 'target_net.module.1.'),
            ('teacher.steps', 'target_net.steps'),
            ('backbone.backbone.', 'backbone.'),
            ('neck.projector.module.', 'neck.'),
            ('head.predictor.module.', 'head.predictor.'),
            ('head.bn.module.0.', 'head.bn.')):
        if key.startswith(ours):
            return theirs + key[len(ours):]
    return key


def views(arch, batch=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    size = 64 if arch == 'resnet' else 32
    return [torch.randn(batch, 3, size, size, generator=g) for _ in range(2)]


def train_step(model, optimizer, inputs, total):
    losses = model.loss(inputs, [])
    loss = total(losses)
    optimizer.zero_grad()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    optimizer.step()
    return loss.detach(), grads


@pytest.mark.parametrize('arch', ['resnet', 'vit'])
@pytest.mark.parametrize('method', ['byol', 'simsiam', 'barlowtwins'])
def test_without_extra_tokens_it_is_mmpretrains_algorithm(method, arch):
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    ours, theirs = build_ours(method, arch), build_theirs(method, arch)
    state = ours.state_dict()
    mapped = {their_key(k): v for k, v in state.items()}
    assert set(mapped) == set(theirs.state_dict()), \
        set(mapped) ^ set(theirs.state_dict())
    theirs.load_state_dict(mapped)
    # float64: the two sum in different orders, and float32 differences grow
    # through the small-batch BatchNorms (as in test_mte_mocov3.py)
    ours.double(), theirs.double()
    ours_opt = torch.optim.SGD(ours.parameters(), lr=0.5)
    theirs_opt = torch.optim.SGD(theirs.parameters(), lr=0.5)
    for step in range(2):
        inputs = [v.double() for v in views(arch, seed=step)]
        ours_loss, ours_grads = train_step(
            ours, ours_opt, inputs,
            lambda d: sum(v for k, v in d.items() if k.startswith('loss')))
        theirs_loss, theirs_grads = train_step(
            theirs, theirs_opt, inputs, lambda d: d['loss'])
        torch.testing.assert_close(ours_loss, theirs_loss)
        assert {their_key(k) for k in ours_grads} == set(theirs_grads)
        for name, grad in ours_grads.items():
            torch.testing.assert_close(grad, theirs_grads[their_key(name)],
                                       msg=lambda m, n=name: f'{n}: {m}')
    # parameters, the target network (BYOL) and every running statistic
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        torch.testing.assert_close(value, theirs_state[their_key(key)],
                                   msg=lambda m, k=key: f'{k}: {m}')
    assert ('teacher.steps' in state) == (method == 'byol')


@pytest.mark.parametrize('method', ['byol', 'simsiam', 'barlowtwins'])
def test_each_slot_is_mmpretrains_loss_on_that_slot_alone(method):
    """The head's loss of slot j equals mmpretrain's head (fresh, same
    weights) on slot j's embeddings alone, and changing another slot's
    inputs leaves it unchanged."""
    torch.manual_seed(0)
    ours = MODELS.build(METHODS[method][2])
    theirs = MODELS.build(METHODS[method][1])
    theirs.load_state_dict({their_key('head.' + k)[5:]: v
                            for k, v in ours.state_dict().items()})
    z = torch.randn(2, 6, 3, 16)  # (views, B, S, D)
    t = torch.randn(2, 6, 3, 16) if method == 'byol' else z
    per_slot = ours.loss(ours.predictions(z), ours.targets(t))
    assert per_slot.shape == (3, )
    for j in range(3):
        ref_head = copy.deepcopy(theirs)
        if method == 'barlowtwins':
            ref = ref_head.loss(z[0, :, j], z[1, :, j])
        else:
            ref = ref_head.loss(z[0, :, j], t[1, :, j]) + \
                ref_head.loss(z[1, :, j], t[0, :, j])
            ref = ref * METHODS[method][2]['loss_weight']
        torch.testing.assert_close(per_slot[j], ref)
    changed = z.clone()
    changed[:, :, 1:] += torch.randn_like(changed[:, :, 1:])
    other = ours.loss(ours.predictions(changed),
                      ours.targets(t if method == 'byol' else changed))
    torch.testing.assert_close(other[0], per_slot[0])


@pytest.mark.parametrize('method', ['byol', 'barlowtwins'])
def test_distillation_equals_its_formula(method):
    """The global slot learns the ensemble target of the auxiliary and pooled
    slots with the base loss: BYOL's normalised mean of the members'
    (target network's) projections; Barlow Twins' mean embedding,
    detached."""
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = build_ours(method, 'resnet', num_aux=1, num_pooled=2,
                       distill=dict(type='EnsembleDistillLoss',
                                    loss_weight=0.5))
    inputs = views('resnet')
    student_out = model.student_forward(inputs, None, 0)
    teacher_out = model.teacher_forward(inputs, student_out)
    student = model.head.predictions(student_out.views('projected'))
    targets = model.head.targets(teacher_out.views('projected').cat(), 0)
    got = model.distill_losses(student, targets, student_out,
                               teacher_out)['loss_distill']
    head = model.head
    members = targets[:, :, 1:]
    if method == 'byol':
        ensemble = F.normalize(F.normalize(members, dim=-1).mean(2), dim=-1)
    else:
        ensemble = members.detach().mean(2)
    preds = student.cat()[:, :, 0]
    if method == 'byol':
        want = 2.0 * sum(head.loss_module(preds[u], ensemble[1 - u])
                         for u in range(2))
    else:
        bn = torch.nn.BatchNorm1d(16, affine=False)
        corr = bn(preds[0]).T @ bn(ensemble[1]) / preds.shape[1]
        want = head.loss_module(corr)
    torch.testing.assert_close(got, 0.5 * want)
    # the ensemble target carries no gradient into the members
    got.backward()
    if method == 'barlowtwins':
        assert model.neck.pooling.queries.grad is None or \
            model.neck.pooling.queries.grad.abs().sum() == 0


def test_barlow_gram_form_equals_the_matrix_form():
    """cross_correlation='gram' computes mmpretrain's CrossCorrelationLoss of
    each slot without its D x D matrix: same losses and gradients."""
    from mte_mm.registry import MODELS as OURS
    z, t = torch.randn(2, 6, 3, 16), torch.randn(2, 6, 3, 16)
    out = {}
    for mode in ('matrix', 'gram'):
        head = OURS.build(dict(METHODS['barlowtwins'][2],
                               cross_correlation=mode))
        zr, tr = z.clone().requires_grad_(), t.clone().requires_grad_()
        loss = head.loss(head.predictions(zr), head.targets(tr))
        (loss * torch.arange(1., 4.)).sum().backward()
        out[mode] = (loss.detach(), zr.grad, tr.grad)
    for got, want in zip(out['gram'], out['matrix']):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="cross_correlation='dense'"):
        OURS.build(dict(METHODS['barlowtwins'][2], cross_correlation='dense'))
    with pytest.raises(ValueError, match='needs its lambd'):
        OURS.build(dict(METHODS['barlowtwins'][2], cross_correlation='gram',
                        loss=dict(type='mmpretrain.CosineSimilarityLoss')))


def _barlow_worker(rank, z, t, mode):
    from mte_mm.registry import MODELS as OURS
    torch.manual_seed(0)
    head = OURS.build(dict(METHODS['barlowtwins'][2],
                           cross_correlation=mode))
    part = slice(0, 3) if rank == 0 else slice(3, 6)
    zr = z[:, part].clone().requires_grad_()
    tr = t[:, part].clone().requires_grad_()
    loss = head.loss(head.predictions(zr), head.targets(tr))
    loss.sum().backward()
    return dict(loss=loss.detach(), grad_z=zr.grad, grad_t=tr.grad,
                state=head.state_dict())


@pytest.mark.parametrize('mode', ['matrix', 'gram'])
def test_barlow_two_processes_equal_one_process_on_the_whole_batch(mode):
    """Synchronised standardisation and a differentiable all-reduce of the
    cross-correlation: every rank's loss is the 1-process loss and its
    gradients are world_size x the 1-process ones (DDP's mean of the
    parameter gradients is then the 1-process gradient)."""
    from mte_mm.registry import MODELS as OURS
    torch.manual_seed(1)
    z, t = torch.randn(2, 6, 3, 16), torch.randn(2, 6, 3, 16)
    results = run_gloo_workers(_barlow_worker, z, t, mode)
    torch.manual_seed(0)
    head = OURS.build(METHODS['barlowtwins'][2])
    zr, tr = z.clone().requires_grad_(), t.clone().requires_grad_()
    loss = head.loss(head.predictions(zr), head.targets(tr))
    loss.sum().backward()
    for rank, part in ((0, slice(0, 3)), (1, slice(3, 6))):
        torch.testing.assert_close(results[rank]['loss'], loss.detach())
        torch.testing.assert_close(results[rank]['grad_z'],
                                   2 * zr.grad[:, part])
        torch.testing.assert_close(results[rank]['grad_t'],
                                   2 * tr.grad[:, part])
        torch.testing.assert_close(results[rank]['state'], head.state_dict())


def test_a_config_names_the_teacher_and_the_views_of_mte_byol():
    """``model.teacher`` and ``model.views`` are parts a config names: MTE-BYOL
    with ``teacher=dict(type='StopGradTeacher')`` (its ``base_momentum`` is
    then unused) trains SimSiam-style, its step the by-hand formula
    ``L = w * sum_u mean_b(-cos(q_u, sg(z_{1-u})))`` with ``z_u`` the
    student's projection of view u (its own forward) and ``q_u`` the
    predictor's, in loss and in every gradient; no momentum copy."""
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = build_ours('byol', 'resnet', teacher=dict(type='StopGradTeacher'),
                       views=dict(num_views=2, share_forward=False))
    model.double()
    assert not any(k.startswith('teacher.') for k in model.state_dict())
    # a first step, so that an EMA teacher would no longer be the student
    train_step(model, torch.optim.SGD(model.parameters(), lr=0.5),
               [v.double() for v in views('resnet', seed=2)],
               lambda d: sum(v for k, v in d.items() if k.startswith('loss')))
    inputs = [v.double() for v in views('resnet')]
    losses = model.loss(inputs, [])
    got = sum(v for k, v in losses.items() if k.startswith('loss'))
    got_grads = torch.autograd.grad(got, list(model.parameters()),
                                    allow_unused=True)

    z = [model.encode(model._student(), x)['projected'][:, 0] for x in inputs]
    q = [model.head.predictor(z_u[:, None])[:, 0] for z_u in z]
    weight = METHODS['byol'][2]['loss_weight']
    want = weight * sum(-F.cosine_similarity(q[u], z[1 - u].detach()).mean()
                        for u in range(2))
    torch.testing.assert_close(got, want)
    want_grads = torch.autograd.grad(want, list(model.parameters()),
                                     allow_unused=True)
    for (name, _), a, b in zip(model.named_parameters(), got_grads,
                               want_grads):
        assert (a is None) == (b is None), name
        if a is not None:
            torch.testing.assert_close(a, b, msg=lambda m, n=name: f'{n}: {m}')


def test_what_a_method_cannot_do_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r'MTEBYOL: model\.views\.num_views=3:'
                       r' this method needs num_views=2'):
        build_ours('byol', 'resnet', views=dict(num_views=3))
    with pytest.raises(ValueError, match=r"model\.teacher\.type='Copy' is not"
                       r" a registered teacher: choose from \[.*'EMATeacher'"):
        build_ours('simsiam', 'resnet', teacher=dict(type='Copy'))
    with pytest.raises(ValueError, match=r'model\.teacher: StopGradTeacher .*'
                       r"unexpected keyword argument 'momentum'"):
        build_ours('simsiam', 'resnet',
                   teacher=dict(type='StopGradTeacher', momentum=0.1))
    with pytest.raises(ValueError, match=r'model\.base_momentum=0\.01 and '
                       r'model\.teacher\.momentum=0\.02: set one of them'):
        build_ours('byol', 'resnet', teacher=dict(momentum=0.02))
    with pytest.raises(ValueError, match=r'model\.views: .*unexpected keyword'
                       r" argument 'teacher_crops'"):
        build_ours('barlowtwins', 'resnet', views=dict(teacher_crops=2))
    # the defaults are data: a teacher config without a type updates the
    # method's default, another type replaces it
    ema = build_ours('simsiam', 'resnet', teacher=dict(type='EMATeacher',
                                                       momentum=0.5))
    assert ema.teacher.is_copy and ema.teacher.momentum == 0.5
    byol = build_ours('byol', 'resnet')
    assert byol.teacher.momentum == 0.01  # build_ours' base_momentum


def feature_distill_by_hand(model, inputs, weight):
    """``weight * mean_{v, b} (1 - cos(g_v, norm(mean_j norm(f_vj))))``: the
    student's global slot feature ``g_v`` of each teacher view against the
    teacher's auxiliary and pooled slot features ``f_vj`` of that view,
    each view its own forward (as every two-view method's step)."""
    cos = []
    for x in inputs:
        g = model.encode(model._student(), x)['slots'][:, 0]
        with torch.no_grad():
            members = model.encode(model.teacher.module, x)['slots'][:, 1:]
        target = F.normalize(F.normalize(members, dim=-1).mean(1), dim=-1)
        cos.append(F.cosine_similarity(g, target, dim=-1))
    return weight * (1 - torch.stack(cos)).mean()


@pytest.mark.parametrize('method', ['byol', 'simsiam', 'barlowtwins'])
def test_feature_distillation_equals_its_formula(method):
    """``EnsembleDistillLoss.feature_weight`` works for every method: the
    term equals its formula whatever the teacher (EMA copy, the student
    under a stop gradient, the Siamese student), and its gradient reaches
    the student's global path but never the ensemble's members."""
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = build_ours(method, 'resnet', num_aux=1, num_pooled=2,
                       distill=dict(type='EnsembleDistillLoss',
                                    loss_weight=0.0, feature_weight=0.7))
    model.double()
    inputs = [v.double() for v in views('resnet')]
    got = model.loss(inputs, [])['loss_distill_feature']
    torch.testing.assert_close(got, feature_distill_by_hand(model, inputs,
                                                            0.7))
    got.backward()
    assert model.backbone.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.neck.pooling.queries.grad is None or \
        model.neck.pooling.queries.grad.abs().sum() == 0
