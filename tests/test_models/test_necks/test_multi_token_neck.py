"""MultiTokenNeck: the pooled tokens follow the pooling formula, slots are
stacked in SlotLayout order, and projectors with batch statistics see each
slot on its own (per_slot) unless asked to mix them (joint)."""
import math
import typing

import pytest
import torch

import mte_mm  # noqa: F401
from mte_mm.models import MTEVisionTransformer, MultiTokenNeck

C = 32
NONLINEAR = dict(type='NonLinearNeck', in_channels=C, hid_channels=48,
                 out_channels=16, num_layers=2, with_avg_pool=False,
                 norm_cfg=dict(type='BN1d'))


def backbone_tokens(num_aux=1):
    torch.manual_seed(0)
    vit = MTEVisionTransformer(arch=dict(embed_dims=C, num_layers=2,
                                         num_heads=4,
                                         feedforward_channels=64),
                               img_size=32, patch_size=8,
                               num_aux_tokens=num_aux)
    vit.init_weights()
    return vit, vit.forward_tokens(torch.randn(4, 3, 32, 32))


def test_pooled_tokens_follow_the_pooling_formula():
    _, tokens = backbone_tokens()
    neck = MultiTokenNeck(C, projector=NONLINEAR, num_pooled_tokens=4)
    neck.init_weights()
    out = neck.slots(tokens)
    z = tokens['x_norm_patchtokens']
    q, w_k = neck.pooling.queries, neck.pooling.key.weight
    scores = torch.einsum('kc,bpc->bkp', q, z @ w_k.T) / math.sqrt(C)
    alpha = scores.softmax(-1)
    torch.testing.assert_close(out['pool_weights'], alpha)
    torch.testing.assert_close(out['x_norm_pooledtokens'], alpha @ z)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(4, 4))
    # image-dependent weights: two images give different pooling maps
    assert (alpha[0] - alpha[1]).abs().max() > 1e-4
    # slot order [g, a_1, p_1..p_4]
    torch.testing.assert_close(out['slots'], torch.cat([
        tokens['x_norm_clstoken'][:, None], tokens['x_norm_auxtokens'],
        alpha @ z], dim=1))


def test_gradients_reach_pooling_and_backbone_through_the_neck():
    vit, _ = backbone_tokens()
    vit.train()
    neck = MultiTokenNeck(C, projector=NONLINEAR, num_pooled_tokens=2)
    neck.init_weights()
    tokens = vit.forward_tokens(torch.randn(4, 3, 32, 32))
    neck(tokens)['projected'][:, 2:].pow(2).sum().backward()
    for name, param in [('pooling.queries', neck.pooling.queries),
                        ('pooling.key.weight', neck.pooling.key.weight),
                        ('qkv', vit.layers[0].attn.qkv.weight)]:
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_per_slot_projection_keeps_batch_statistics_apart():
    _, tokens = backbone_tokens(num_aux=2)
    per_slot = MultiTokenNeck(C, projector=NONLINEAR, num_pooled_tokens=2)
    per_slot.init_weights()
    per_slot.train()
    out = per_slot(tokens)
    assert out['projected'].shape == (4, 5, 16)
    # slot j alone through the projector: its own batch statistics
    for j in range(5):
        ref = per_slot.projector.module((out['slots'][:, j], ))[0]
        torch.testing.assert_close(out['projected'][:, j], ref)
    joint = MultiTokenNeck(C, projector=NONLINEAR, num_pooled_tokens=2,
                           projector_call='joint')
    joint.load_state_dict(per_slot.state_dict())
    joint.train()
    mixed = joint(tokens)['projected']
    flat = joint.projector.module((out['slots'].reshape(20, C), ))[0]
    torch.testing.assert_close(mixed, flat.view(4, 5, 16))
    assert (mixed[:, 0] - out['projected'][:, 0]).abs().max() > 1e-4


def test_separate_projectors_and_global_only():
    _, tokens = backbone_tokens(num_aux=2)
    dino = dict(type='DINOProjector', in_channels=C, out_channels=24,
                hidden_channels=40, bottleneck_channels=8)
    neck = MultiTokenNeck(C, projector=dino, num_pooled_tokens=1,
                          separate_projectors=True)
    out = neck(tokens)
    slots = out['slots']
    torch.testing.assert_close(out['projected'], torch.cat([
        neck.projector.module(slots[:, :1]),
        neck.aux_projector.module(slots[:, 1:3]),
        neck.pooled_projector.module(slots[:, 3:])], dim=1))
    only = neck(tokens, global_only=True)
    assert only['projected'].shape == (4, 1, 24)
    torch.testing.assert_close(only['projected'], out['projected'][:, :1])
    assert neck.projectors() == [neck.projector.module,
                                 neck.aux_projector.module,
                                 neck.pooled_projector.module]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="'sometimes'"):
        MultiTokenNeck(C, projector=NONLINEAR, projector_call='sometimes')
    with pytest.raises(ValueError, match='-1'):
        MultiTokenNeck(C, projector=NONLINEAR, num_pooled_tokens=-1)


class TupleMLP(torch.nn.Module):
    """A projector from outside mmpretrain that takes and returns a tuple
    of tensors, as mmpretrain's necks do."""

    def __init__(self, in_channels=C, out_channels=8):
        super().__init__()
        self.fc = torch.nn.Linear(in_channels, out_channels)

    def forward(self, x: typing.Tuple[torch.Tensor]
                ) -> typing.Tuple[torch.Tensor]:
        return (self.fc(x[0]), )


class UnannotatedTupleMLP(TupleMLP):
    def forward(self, x):
        return (self.fc(x[0]), )


def test_projectors_are_called_as_their_forward_says_or_as_configured():
    from mmpretrain.registry import MODELS
    from mte_mm.models.necks.slotwise_projector import infer_input_type
    for cls in (TupleMLP, UnannotatedTupleMLP):
        MODELS.register_module(name=f'_Test{cls.__name__}', module=cls,
                               force=True)
    assert infer_input_type(TupleMLP()) == 'tuple'
    assert infer_input_type(torch.nn.Linear(2, 2)) == 'tensor'
    _, tokens = backbone_tokens()
    neck = MultiTokenNeck(C, projector=dict(type='_TestTupleMLP'),
                          num_pooled_tokens=2)
    assert neck.projector.input_type == 'tuple'
    out = neck(tokens)
    torch.testing.assert_close(out['projected'],
                               neck.projector.module.fc(out['slots']))
    # a projector whose annotation does not say it: named in the config
    neck = MultiTokenNeck(C, projector=dict(type='_TestUnannotatedTupleMLP'),
                          num_pooled_tokens=2, projector_input='tuple')
    assert neck(tokens)['projected'].shape == (4, 4, 8)
    with pytest.raises(ValueError, match="projector_input='list'"):
        MultiTokenNeck(C, projector=dict(type='_TestTupleMLP'),
                       projector_input='list')
