"""MTEiBOT against iBOT computed by hand (CLS-level DINO loss on the masked
student views + masked patch loss), its reduction to DINO without masks, and
the MTE slots on the masked views."""
import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mte_mm  # noqa: F401

from ..test_heads.test_dino_slot_head import reference_dino_loss
from ..test_losses.test_ibot_patch_loss import reference_patch_loss

DIM, OUT, BATCH, GRID = 32, 48, 3, 4  # 32 px global views, 8 px patches


def build(num_aux=0, num_pooled=0, distill_weight=0.0, type='MTEiBOT',
          shared_last_layer=True, **kwargs):
    torch.manual_seed(0)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    MessageHub.get_current_instance().update_info('epoch', 0)
    cfg = dict(
        type=type,
        backbone=dict(type='MTEVisionTransformer',
                      arch=dict(embed_dims=DIM, num_layers=2, num_heads=4,
                                feedforward_channels=64),
                      img_size=32, patch_size=8, drop_path_rate=0.1,
                      num_aux_tokens=num_aux, use_mask_token=True),
        neck=dict(type='MultiTokenNeck', in_channels=DIM,
                  num_pooled_tokens=num_pooled, projector_call='joint',
                  projector=dict(type='IBOTProjector', in_channels=DIM,
                                 out_channels=OUT, hidden_channels=40,
                                 bottleneck_channels=16,
                                 shared_last_layer=shared_last_layer,
                                 norm_last_layer=False)),
        head=dict(type='DINOSlotHead', out_channels=OUT),
        distill=dict(type='EnsembleDistillLoss', loss_weight=distill_weight),
        data_preprocessor=dict(mean=[0.] * 3, std=[1.] * 3),
        **kwargs)
    if type == 'MTEiBOT':
        cfg['patch_loss'] = dict(type='IBOTPatchLoss', out_channels=OUT)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    # non-zero mask token: a zero one would hide where it is used
    with torch.no_grad():
        model.backbone.mask_token.normal_()
        model.teacher.module['backbone'].mask_token.copy_(
            model.backbone.mask_token)
    return model


def views():
    g = torch.Generator().manual_seed(1)
    return ([torch.randn(BATCH, 3, 32, 32, generator=g) for _ in range(2)] +
            [torch.randn(BATCH, 3, 16, 16, generator=g) for _ in range(3)])


def samples(masks):
    """data_samples as PackInputs(algorithm_keys=['masks']) makes them:
    one (h, w) mask per crop (local crops' masks are not used)."""
    out = []
    for b in range(BATCH):
        sample = DataSample()
        sample.set_field([masks[0, b], masks[1, b]] +
                         [torch.zeros(2, 2, dtype=torch.bool)] * 3, 'masks')
        out.append(sample)
    return out


def random_masks(seed=2):
    masks = torch.rand(2, BATCH, GRID, GRID,
                       generator=torch.Generator().manual_seed(seed)) < 0.4
    masks[0, 1] = False  # an image with no masked patch
    return masks


def test_without_extra_tokens_it_is_exactly_ibot():
    model = build()
    model.backbone.eval()  # no drop-path, to compare with a second forward
    inputs, masks = views(), random_masks()
    losses = model.loss(inputs, samples(masks))
    assert set(losses) == {'loss_global', 'loss_patch'}
    # iBOT by hand: the student sees the masked global views (mask token
    # before the position embedding) and the unmasked local views; the
    # (step-0 copy of the) student is the teacher, on unmasked global views
    backbone, head = model.backbone, model.neck.projector.module
    flat = masks.flatten(2)

    def tokens(x, mask=None):
        t = backbone.forward_tokens(x, mask=mask)
        return t['x_norm_clstoken'], t['x_norm_patchtokens']

    student = [tokens(x, flat[v]) if v < 2 else tokens(x)
               for v, x in enumerate(inputs)]
    with torch.no_grad():
        teacher = [tokens(x) for x in inputs[:2]]
    cls_ref = reference_dino_loss([head(c) for c, _ in student],
                                  [head(c) for c, _ in teacher],
                                  torch.zeros(OUT), 0.1, 0.04)
    patch_ref = reference_patch_loss(
        torch.stack([head(p) for _, p in student[:2]]),
        torch.stack([head(p) for _, p in teacher]), flat, torch.zeros(OUT),
        0.1, 0.04)
    torch.testing.assert_close(losses['loss_global'], cls_ref)
    torch.testing.assert_close(losses['loss_patch'], patch_ref)
    # centres after the loss: CLS from the teacher's CLS logits, patch
    # from all its patch logits (momentum 0.9, one process)
    with torch.no_grad():
        cls_mean = torch.cat([head(c) for c, _ in teacher]).mean(0)
        patch_mean = torch.cat([head(p) for _, p in teacher]).mean((0, 1))
    torch.testing.assert_close(model.head.center[0], 0.1 * cls_mean)
    torch.testing.assert_close(model.patch_loss.center[0], 0.1 * patch_mean)


def test_no_masks_reduce_to_dino_and_a_zero_patch_loss():
    ibot, dino = build(num_aux=2, num_pooled=1, distill_weight=1.0), build(
        num_aux=2, num_pooled=1, distill_weight=1.0, type='MTEDINO')
    dino.load_state_dict(ibot.state_dict(), strict=False)
    for model in (ibot, dino):
        model.backbone.eval()
    inputs = views()
    losses = ibot.loss(inputs, samples(torch.zeros(2, BATCH, GRID, GRID,
                                                   dtype=torch.bool)))
    expected = dino.loss(inputs, None)
    assert set(losses) == set(expected) | {'loss_patch'}
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value, msg=key)
    assert losses['loss_patch'].item() == 0.0
    losses['loss_patch'].backward()  # in the graph, zero gradients


def test_student_slots_come_from_the_masked_views_and_grads_flow():
    model = build(num_aux=2, num_pooled=2, distill_weight=1.0)
    model.backbone.eval()
    inputs, masks = views(), random_masks()
    losses = model.loss(inputs, samples(masks))
    assert {k for k in losses if k.startswith('loss')} == {
        'loss_global', 'loss_aux', 'loss_pooled', 'loss_distill',
        'loss_patch'}
    # the aux/pooled slots of the student on the masked global views, the
    # teacher's on the unmasked ones
    flat = masks.flatten(2)

    def slots(x, mask=None):
        t = model.backbone.forward_tokens(x, mask=mask)
        pooled, _ = model.neck.pooling(t['x_norm_patchtokens'])
        return model.neck.projector.module(torch.cat(
            [t['x_norm_clstoken'][:, None], t['x_norm_auxtokens'], pooled],
            1))

    student = [slots(x, flat[v]) for v, x in enumerate(inputs[:2])]
    with torch.no_grad():
        teacher = [slots(x) for x in inputs[:2]]
    aux = sum(reference_dino_loss([s[:, j] for s in student],
                                  [t[:, j] for t in teacher],
                                  torch.zeros(OUT), 0.1, 0.04)
              for j in (1, 2))
    torch.testing.assert_close(losses['loss_aux'], aux / 5)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert model.backbone.mask_token.grad.abs().sum() > 0
    assert model.backbone.aux_tokens.grad.abs().sum() > 0


def test_separate_patch_last_layer_and_pred_start_epoch():
    model = build(shared_last_layer=False, pred_start_epoch=1)
    head = model.neck.projector.module
    assert head.patch_last_layer is not None
    inputs, masks = views(), random_masks()
    losses = model.loss(inputs, samples(masks))  # epoch 0 < 1: no masks
    assert losses['loss_patch'].item() == 0.0
    MessageHub.get_current_instance().update_info('epoch', 1)
    losses = model.loss(inputs, samples(masks))
    assert losses['loss_patch'].item() > 0
    # epoch 1 >= freeze_last_layer_epochs: the separate patch layer learns
    losses['loss_patch'].backward()
    assert head.patch_last_layer.weight_v.grad.abs().sum() > 0
    assert head.last_layer.weight_v.grad is None or \
        head.last_layer.weight_v.grad.abs().sum() == 0


def test_pred_start_epoch_delays_the_patch_temperature_warmup():
    """The official iBOT schedule of the patch loss's teacher temperature
    with ``mim_start_epoch`` (written here): the warm-up value for that many
    epochs, then the usual linear warm-up, then the final value."""
    import numpy as np
    start, warmup, epochs = 3, 5, 12
    model = build(pred_start_epoch=start)
    loss = model.patch_loss
    loss.warmup_teacher_temp_epochs = warmup
    official = np.concatenate((
        np.ones(start) * loss.warmup_teacher_temp,
        np.linspace(loss.warmup_teacher_temp, loss.teacher_temp, warmup),
        np.ones(epochs - warmup - start) * loss.teacher_temp))
    ours = [loss.teacher_temp_at(model.patch_schedule_epoch(e))
            for e in range(epochs)]
    np.testing.assert_allclose(ours, official, rtol=1e-12)
    assert build().patch_schedule_epoch(4) == 4  # no delay by default


def test_bad_input_is_named():
    model = build()
    with pytest.raises(ValueError, match='IBOTBlockMasks'):
        model.loss(views(), [DataSample() for _ in range(BATCH)])
    with pytest.raises(ValueError, match='patch_size must be'):
        model.loss(views(), samples(torch.zeros(2, BATCH, 2, 2,
                                                dtype=torch.bool)))
    with pytest.raises(TypeError, match='use_mask_token=True'):
        MODELS.build(dict(
            type='MTEiBOT',
            backbone=dict(type='MTEVisionTransformer', arch='deit-tiny',
                          img_size=32, patch_size=8, num_aux_tokens=0),
            neck=dict(type='MultiTokenNeck', in_channels=192,
                      num_pooled_tokens=0,
                      projector=dict(type='IBOTProjector', in_channels=192,
                                     out_channels=OUT)),
            head=dict(type='DINOSlotHead', out_channels=OUT),
            patch_loss=dict(type='IBOTPatchLoss', out_channels=OUT)))
    with pytest.raises(ValueError, match='patch_out_channels'):
        MODELS.build(dict(type='IBOTProjector', in_channels=8, out_channels=16,
                          patch_out_channels=32))
