"""The teacher parts: EMATeacher (mmpretrain's CosineEMA) and
StopGradTeacher (the student itself under no_grad)."""
import copy

import pytest
import torch

from ..test_algorithms.test_mte_dino import build, views


def no_drop_path(model):
    for module in model.modules():
        if hasattr(module, 'drop_prob'):
            module.drop_prob = 0.0
    return model


def one_step(model):
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.5)
    losses = model.loss(views(), [])
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    optimizer.zero_grad()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    optimizer.step()
    return loss.detach(), grads


def test_stop_grad_teacher_is_the_student_without_a_copy():
    ema = no_drop_path(build())
    stop = no_drop_path(build(teacher=dict(type='StopGradTeacher')))
    # no teacher parameters, buffers or checkpoint keys
    assert not any(k.startswith('teacher.') for k in stop.state_dict())
    assert sum(p.numel() for p in stop.parameters()) < \
        sum(p.numel() for p in ema.parameters())
    for name, module in stop.encoders('teacher').items():
        assert module is getattr(stop, name)
    stop.load_state_dict({k: v for k, v in ema.state_dict().items()
                          if not k.startswith('teacher.')})
    # step 1: the EMA teacher is still the student's copy, so both teachers
    # give the same targets, losses and gradients
    loss_ema, grads_ema = one_step(ema)
    loss_stop, grads_stop = one_step(stop)
    torch.testing.assert_close(loss_stop, loss_ema)
    assert grads_stop.keys() == grads_ema.keys()
    for name in grads_ema:
        torch.testing.assert_close(grads_stop[name], grads_ema[name],
                                   msg=name)
    # step 2: the stop-gradient targets come from the updated student;
    # by hand, an EMA model whose teacher is reset to that student
    reference = copy.deepcopy(ema)
    reference.load_state_dict(dict(
        stop.state_dict(), **{f'teacher.module.{k}': v for k, v in
                              stop._student().state_dict().items()},
        **{'teacher.steps': ema.teacher.steps}))
    loss_stop, grads_stop = one_step(stop)
    loss_ref, grads_ref = one_step(reference)
    torch.testing.assert_close(loss_stop, loss_ref)
    assert not torch.allclose(loss_stop, one_step(ema)[0])
    for name in grads_ref:
        torch.testing.assert_close(grads_stop[name], grads_ref[name],
                                   msg=name)


def test_stop_grad_teacher_costs_no_forward():
    """The stop-gradient targets are the student's own forward, detached:
    a step runs the backbone once per student group (global crops, local
    crops), where an EMA teacher adds one forward of the global crops."""
    counts = {}
    for kind in ('EMATeacher', 'StopGradTeacher'):
        model = no_drop_path(build(teacher=dict(type=kind)))
        calls = []
        for backbone in {id(m['backbone']): m['backbone'] for m in (
                model.encoders('teacher'), model.encoders('student'))
                }.values():
            original = backbone.forward_tokens

            def counted(*args, original=original, **kwargs):
                calls.append(args[0].shape[0])
                return original(*args, **kwargs)

            backbone.forward_tokens = counted
        one_step(model)
        counts[kind] = calls
    batch = views()[0].shape[0]
    assert counts['StopGradTeacher'] == [2 * batch, 3 * batch]
    assert sorted(counts['EMATeacher']) == sorted(
        [2 * batch, 3 * batch, 2 * batch])


def test_ema_teacher_end_momentum_and_bad_teachers():
    from mmengine.logging import MessageHub
    model = build(teacher=dict(type='EMATeacher', momentum=0.1,
                               end_momentum=0.1))
    MessageHub.get_current_instance().update_info('max_iters', 10)
    student = dict(model._student().named_parameters())
    teacher = dict(model.teacher.module.named_parameters())
    name = 'backbone.cls_token'
    model.update_teacher()  # the first update copies (mmengine)
    with torch.no_grad():
        student[name].add_(1.0)
    before = teacher[name].clone()
    model.update_teacher()  # momentum 0.1 whatever the step (end = start)
    torch.testing.assert_close(teacher[name],
                               0.9 * before + 0.1 * student[name])
    with pytest.raises(ValueError, match="model.teacher.type='Copy' is not a "
                       'registered teacher'):
        build(teacher=dict(type='Copy'))
    with pytest.raises(ValueError, match="model.teacher: StopGradTeacher .*"
                       "unexpected keyword argument 'momentum'"):
        build(teacher=dict(type='StopGradTeacher', momentum=0.1))


def test_export_of_a_stop_grad_teacher_reads_the_student():
    import sys

    from ...conftest import REPO
    sys.path.insert(0, str(REPO / 'tools'))
    import export_backbone
    stop = dict(type='MTEDINO', teacher=dict(type='StopGradTeacher'))
    assert export_backbone.resolve_source(stop, 'teacher') == 'student'
    assert export_backbone.resolve_source(stop, 'student') == 'student'
    assert export_backbone.resolve_source(dict(type='MTEDINO'),
                                          'teacher') == 'teacher'
    assert export_backbone.resolve_source(
        dict(teacher=dict(type='EMATeacher')), 'teacher') == 'teacher'
    # the algorithm's own default teacher, asked whether it is a copy
    for algorithm, source in (('MTESimSiam', 'student'),
                              ('MTEBarlowTwins', 'student'),
                              ('MTEBYOL', 'teacher')):
        assert export_backbone.resolve_source(
            dict(type=algorithm), 'teacher') == source, algorithm
    assert export_backbone.resolve_source(
        dict(type='MTEBYOL', teacher=dict(type='StopGradTeacher')),
        'teacher') == 'student'
    assert export_backbone.resolve_source(
        dict(type='MTESimSiam', teacher=dict(type='EMATeacher')),
        'teacher') == 'teacher'

