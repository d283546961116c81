"""FeatureMapTokenAdapter: forward() is the wrapped backbone's, the token
dict follows the backbone's own final norm and pooling, the auxiliary
tokens are class attention over the last-stage grid, and the conversion
back to the plain backbone round-trips."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import mte_mm  # noqa: F401
from mte_mm.models.backbones import (plain_backbone_config,
                                     plain_backbone_state)
from mte_mm.models.layers.aux_token_attention import class_attention_block

CONVNEXT = dict(type='mmpretrain.ConvNeXt',
                arch=dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64]),
                drop_path_rate=0.1)
SWIN = dict(type='mmpretrain.SwinTransformer',
            arch=dict(embed_dims=16, depths=[1, 1, 1, 1],
                      num_heads=[1, 1, 2, 2]), img_size=224)


def build(backbone, num_aux_tokens=0, **kwargs):
    torch.manual_seed(0)
    cfg = dict(type='mte_mm.FeatureMapTokenAdapter', backbone=backbone,
               num_aux_tokens=num_aux_tokens, **kwargs)
    adapter = MODELS.build(cfg)
    adapter.init_weights()
    return adapter.eval(), cfg


def plain_twin(adapter, cfg):
    plain = MODELS.build(plain_backbone_config(cfg))
    plain.load_state_dict(plain_backbone_state(adapter.state_dict()))
    plain.eval()  # (mmpretrain's ConvNeXt.train returns None)
    return plain


@pytest.mark.parametrize('backbone, size', [(CONVNEXT, 64), (SWIN, 224)])
def test_forward_is_the_plain_backbone_and_conversion_round_trips(backbone,
                                                                  size):
    adapter, cfg = build(backbone, num_aux_tokens=2)
    plain = plain_twin(adapter, cfg)
    assert plain_backbone_config(cfg)['type'] == backbone['type']
    assert 'drop_path_rate' not in plain_backbone_config(cfg)
    x = torch.randn(2, 3, size, size)
    for ours, theirs in zip(adapter(x), plain(x)):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert not any('aux' in k for k in plain_backbone_state(
        adapter.state_dict()))


def test_convnext_tokens_follow_its_final_norm():
    adapter, _ = build(CONVNEXT)
    convnext = adapter.backbone
    x = torch.randn(2, 3, 64, 64)
    tokens = adapter.forward_tokens(x)
    # by hand: the stages, then the last stage's norm on the map (patch
    # tokens) and on its global average (what the classifier reads)
    fmap = x
    for downsample, stage in zip(convnext.downsample_layers, convnext.stages):
        fmap = stage(downsample(fmap))
    norm = convnext.norm3
    assert fmap.shape[-2:] == (2, 2) and tokens['patch_resolution'] == (2, 2)
    torch.testing.assert_close(tokens['x_norm_patchtokens'],
                               norm(fmap).flatten(2).transpose(1, 2))
    torch.testing.assert_close(
        tokens['x_norm_clstoken'],
        F.layer_norm(fmap.mean((2, 3)), (64, ), norm.weight, norm.bias,
                     norm.eps))
    torch.testing.assert_close(tokens['x_norm_clstoken'], convnext(x)[-1])
    assert tokens['x_norm_auxtokens'].shape == (2, 0, 64)


def test_swin_tokens_are_its_normed_map_and_their_mean():
    adapter, _ = build(SWIN)
    x = torch.randn(1, 3, 224, 224)
    fmap = adapter.backbone(x)[-1]
    tokens = adapter.forward_tokens(x)
    torch.testing.assert_close(tokens['x_norm_patchtokens'],
                               fmap.flatten(2).transpose(1, 2))
    torch.testing.assert_close(tokens['x_norm_clstoken'], fmap.mean((2, 3)))


def test_aux_tokens_are_class_attention_and_change_nothing_else():
    adapter, _ = build(CONVNEXT, num_aux_tokens=3, aux_num_heads=2)
    plain, _ = build(CONVNEXT)
    plain.load_state_dict(adapter.state_dict(), strict=False)
    x = torch.randn(2, 3, 64, 64)
    tokens = adapter.forward_tokens(x)
    reference = plain.forward_tokens(x)
    for key in ('x_norm_clstoken', 'x_norm_patchtokens'):
        torch.testing.assert_close(tokens[key], reference[key])
    expected = adapter.aux_norm(class_attention_block(
        adapter.aux_block, tokens['x_norm_patchtokens'],
        adapter.aux_tokens.expand(2, -1, -1)))
    torch.testing.assert_close(tokens['x_norm_auxtokens'], expected)
    assert adapter.forward_tokens(x, with_aux=False)[
        'x_norm_auxtokens'].shape == (2, 0, 64)
    maps = adapter.last_layer_attention(x)
    assert maps['aux'].shape == (2, 3, 4)
    torch.testing.assert_close(maps['global_map'], torch.full((2, 4), 0.25))
    # each query's weights over the patches plus its own key sum to 1
    assert (maps['aux'].sum(-1) < 1).all() and (maps['aux'] > 0).all()
    aux = tokens['x_norm_auxtokens']  # (weighted: a LayerNorm output's
    (aux * torch.randn_like(aux)).sum().backward()  # plain sum is constant)
    assert adapter.aux_tokens.grad.abs().sum() > 0
    assert adapter.backbone.stages[-1][0].depthwise_conv.weight.grad \
        .abs().sum() > 0


def test_bad_configs_are_named():
    with pytest.raises(TypeError, match='VisionTransformer has no `stages` '
                                        'or `res_layers`'):
        build(dict(type='mmpretrain.VisionTransformer', arch='deit-tiny',
                   img_size=32, patch_size=16))
    with pytest.raises(ValueError, match='out_indices'):
        build(dict(type='mmpretrain.ResNet', depth=18, out_indices=(2, )))
    with pytest.raises(ValueError, match='out_indices'):
        build(dict(CONVNEXT, out_indices=[1]))
    with pytest.raises(ValueError, match='num_aux_tokens'):
        build(CONVNEXT, num_aux_tokens=-1)
    adapter, _ = build(CONVNEXT)
    with pytest.raises(ValueError, match='no mask token'):
        adapter.forward_tokens(torch.randn(1, 3, 64, 64),
                               mask=torch.zeros(1, 4, dtype=torch.bool))


def test_resnet_tokens_are_its_last_stage_and_their_average():
    """A ResNet (BYOL / SimSiam / Barlow Twins): patch tokens = the last
    stage's map, global token = its average (what mmpretrain's neck pools),
    forward() and the export = the plain ResNet."""
    from mmpretrain.registry import MODELS
    resnet = dict(type='mmpretrain.ResNet', depth=18, base_channels=8)
    adapter, _ = build(resnet, num_aux_tokens=2, aux_num_heads=2)
    plain = MODELS.build(resnet)
    plain.load_state_dict(adapter.export_state_dict())  # strict
    plain.eval(), adapter.eval()
    x = torch.randn(2, 3, 64, 64)
    fmap = plain(x)[-1]  # (2, 64, 2, 2)
    tokens = adapter.forward_tokens(x)
    torch.testing.assert_close(tokens['x_norm_patchtokens'],
                               fmap.flatten(2).transpose(1, 2))
    torch.testing.assert_close(tokens['x_norm_clstoken'], fmap.mean((2, 3)))
    assert tokens['x_norm_auxtokens'].shape == (2, 2, 64)
    assert adapter.embed_dims == 64 and adapter.export_kind == 'resnet'
    assert adapter.export_config(dict(backbone=resnet)) == dict(
        resnet, type='mmpretrain.ResNet')
    assert max(adapter.export_errors(plain, x).values()) == 0
