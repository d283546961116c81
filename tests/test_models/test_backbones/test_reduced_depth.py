"""reduced_depth asks each backbone class for its architecture (mmpretrain's
``arch_zoo`` / ``arch_settings``), keeps widths, and refuses what it cannot
reduce."""
import pytest
from mmpretrain.registry import MODELS

import mte_mm  # noqa: F401
from mte_mm.models.backbones import reduced_depth


def test_named_vit_arch_is_read_from_the_class():
    cfg = reduced_depth(dict(type='VisionTransformer', arch='deit-small',
                             img_size=32, patch_size=16), 2)
    assert cfg['arch'] == dict(embed_dims=384, num_layers=2, num_heads=6,
                               feedforward_channels=1536)
    assert len(MODELS.build(cfg).layers) == 2


def test_mocov3_small_is_named_before_any_is_built():
    cfg = reduced_depth(dict(type='MTEMoCoV3ViT', arch='mocov3-small',
                             img_size=32, patch_size=16), 1)
    assert cfg['arch'] == dict(embed_dims=384, num_layers=1, num_heads=12,
                               feedforward_channels=1536)
    # its own table: building one no longer adds to VisionTransformer's
    assert MODELS.get('MTEMoCoV3ViT').arch_zoo is not \
        MODELS.get('VisionTransformer').arch_zoo


def test_stages_of_convnext_and_swin_inside_the_adapter():
    convnext = dict(type='FeatureMapTokenAdapter', backbone=dict(
        type='mmpretrain.ConvNeXt', arch='tiny', out_indices=-1))
    cfg = reduced_depth(convnext, 1)
    assert cfg['backbone']['arch'] == dict(depths=[1, 1, 1, 1],
                                           channels=[96, 192, 384, 768])
    assert convnext['backbone']['arch'] == 'tiny'  # the input is not changed
    swin = reduced_depth(dict(type='mmpretrain.SwinTransformer',
                              arch='tiny'), 1)['arch']
    assert swin['depths'] == [1, 1, 1, 1] and swin['embed_dims'] == 96
    # a dict arch: blocks capped, never raised
    vit = reduced_depth(dict(type='MTEVisionTransformer', arch=dict(
        embed_dims=32, num_layers=1, num_heads=2,
        feedforward_channels=64)), 2)
    assert vit['arch']['num_layers'] == 1


def test_resnet_keeps_its_depth():
    cfg = dict(type='FeatureMapTokenAdapter',
               backbone=dict(type='ResNet', depth=50))
    assert reduced_depth(cfg, 1) == cfg


@pytest.mark.parametrize('backbone,error,match', [
    (dict(type='NoSuchNet'), KeyError, 'no backbone class'),
    (dict(type='VisionTransformer', arch='nope'), KeyError,
     "VisionTransformer names no architecture 'nope'"),
    (dict(type='mmpretrain.MobileNetV2'), TypeError,
     'MobileNetV2 has no arch_zoo or arch_settings'),
])
def test_what_cannot_be_reduced_is_named(backbone, error, match):
    with pytest.raises(error, match=match):
        reduced_depth(backbone, 1)
