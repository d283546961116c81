"""MTE-DINO on a ConvNeXt through FeatureMapTokenAdapter: DINO on the
wrapped backbone when N = K = 0 and lambda = 0; pooled tokens follow the
pooling formula over the last-stage grid; gradients reach the backbone."""
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

import mte_mm  # noqa: F401

from ..test_heads.test_dino_slot_head import reference_dino_loss

DIM, OUT = 64, 48


def build(num_aux=0, num_pooled=0, distill_weight=0.0):
    torch.manual_seed(0)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    MessageHub.get_current_instance().update_info('epoch', 0)
    model = MODELS.build(dict(
        type='MTEDINO',
        backbone=dict(
            type='FeatureMapTokenAdapter', num_aux_tokens=num_aux,
            aux_num_heads=2,
            backbone=dict(type='mmpretrain.ConvNeXt',
                          arch=dict(depths=[1, 1, 1, 1],
                                    channels=[8, 16, 32, DIM]),
                          drop_path_rate=0.1)),
        neck=dict(type='MultiTokenNeck', in_channels=DIM,
                  num_pooled_tokens=num_pooled, projector_call='joint',
                  projector=dict(type='DINOProjector', in_channels=DIM,
                                 out_channels=OUT, hidden_channels=40,
                                 bottleneck_channels=16,
                                 norm_last_layer=False)),
        head=dict(type='DINOSlotHead', out_channels=OUT),
        distill=dict(type='EnsembleDistillLoss', loss_weight=distill_weight),
        data_preprocessor=dict(mean=[0.] * 3, std=[1.] * 3)))
    model.init_weights()
    model.train()
    return model


def views(batch=3):
    g = torch.Generator().manual_seed(1)
    return ([torch.randn(batch, 3, 64, 64, generator=g) for _ in range(2)] +
            [torch.randn(batch, 3, 32, 32, generator=g) for _ in range(3)])


def test_without_extra_tokens_it_is_dino_on_the_wrapped_convnext():
    model = build()
    model.backbone.eval()  # no drop-path, to compare with a second forward
    inputs = views()
    losses = model.loss(inputs, None)
    assert set(losses) == {'loss_global'}
    # DINO by hand on the plain ConvNeXt: its output (global average pool +
    # final norm) through the head; the teacher is the step-0 copy
    convnext, head = model.backbone.backbone, model.neck.projector.module
    student = [head(convnext(x)[-1]) for x in inputs]
    with torch.no_grad():
        teacher = [head(convnext(x)[-1]) for x in inputs[:2]]
    ref = reference_dino_loss(student, teacher, torch.zeros(OUT), 0.1, 0.04)
    torch.testing.assert_close(losses['loss_global'], ref)


def test_pooled_tokens_follow_the_formula_and_gradients_reach_convnext():
    model = build(num_aux=1, num_pooled=2, distill_weight=1.0)
    x = views()[0]
    tokens = model.extract_tokens(x, source='student')
    # s_ki = q_k . (W z_i) / sqrt(C), alpha = softmax_i, p_k = sum alpha z_i
    patches = tokens['x_norm_patchtokens']
    assert patches.shape == (3, 4, DIM)  # 64 px / stride 32 = 2 x 2 grid
    pooling = model.neck.pooling
    scores = torch.einsum('kc,bpc->bkp', pooling.queries,
                          pooling.key(patches)) / DIM**0.5
    alpha = scores.softmax(-1)
    torch.testing.assert_close(tokens['pool_weights'], alpha)
    torch.testing.assert_close(tokens['x_norm_pooledtokens'],
                               alpha @ patches)
    losses = model.loss(views(), None)
    assert {k for k in losses if k.startswith('loss')} == {
        'loss_global', 'loss_aux', 'loss_pooled', 'loss_distill'}
    losses['loss_pooled'].backward()
    convnext = model.backbone.backbone
    assert convnext.stages[-1][0].depthwise_conv.weight.grad.abs().sum() > 0
    assert convnext.downsample_layers[0][0].weight.grad.abs().sum() > 0
    assert pooling.queries.grad.abs().sum() > 0
    # the teacher is an EMA copy: no gradients, drop-path off
    teacher = model.teacher.module['backbone'].backbone
    assert all(p.grad is None for p in teacher.parameters())
    assert all(getattr(m, 'drop_prob', 0.0) == 0.0 for m in teacher.modules())
