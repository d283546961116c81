"""AttentionPooledViT: a plain ViT plus MTE's attention pooling as the image
feature (the ``--pooled`` export)."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from mte_mm.models.backbones import AttentionPooledViT

ARCH = dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32)


def build(**kwargs):
    torch.manual_seed(0)
    return AttentionPooledViT(num_pooled_tokens=3, arch=ARCH, img_size=32,
                              patch_size=8, **kwargs)


def test_feature_is_the_mean_of_the_normalised_pooled_tokens():
    # (mmpretrain's ViT.train returns None: no chaining)
    model = build()
    model.eval()
    plain = VisionTransformer(arch=ARCH, img_size=32, patch_size=8,
                              out_type='raw')
    plain.eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith('pooling.')})
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        patches = plain(x)[0][:, 1:]
        scores = torch.einsum('kc,bpc->bkp', model.pooling.queries,
                              patches @ model.pooling.key.weight.T) / 4.0
        pooled = scores.softmax(-1) @ patches
        want = F.normalize(pooled, dim=-1).mean(1)
        got = model(x)
    assert len(got) == 1 and got[0].shape == (2, 16)
    torch.testing.assert_close(got[0], want)
    # any other out_type is the plain ViT's
    cls = build(out_type='cls_token')
    cls.eval()
    plain.load_state_dict({k: v for k, v in cls.state_dict().items()
                           if not k.startswith('pooling.')})
    with torch.no_grad():
        torch.testing.assert_close(cls(x)[0], plain(x)[0][:, 0])


def test_frozen_probe_freezes_the_pooling_and_a_classifier_reads_it():
    classifier = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mte_mm.AttentionPooledViT', num_pooled_tokens=2,
                      arch=ARCH, img_size=32, patch_size=8, frozen_stages=2),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=16)))
    trainable = [n for n, p in classifier.named_parameters()
                 if p.requires_grad]
    assert trainable == ['head.fc.weight', 'head.fc.bias']
    assert classifier(torch.randn(2, 3, 32, 32), mode='tensor').shape == \
        (2, 5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='num_pooled_tokens must be >= 1'):
        AttentionPooledViT(num_pooled_tokens=0, arch=ARCH, img_size=32,
                           patch_size=8)
    with pytest.raises(ValueError, match='out_indices'):
        build(out_indices=[0, 1])


def test_pooled_linear_probe_config_probes_the_pooled_feature():
    from mmengine.config import Config

    from ...conftest import REPO
    cfg = Config.fromfile(
        str(REPO / 'configs/linear_probe/vits_pooled_linear_probe.py'))
    cfg.merge_from_dict({'model.backbone.arch': dict(ARCH, _delete_=True),
                         'model.backbone.img_size': 32,
                         'model.backbone.patch_size': 8,
                         'model.backbone.frozen_stages': 2,
                         'model.backbone.init_cfg': None,
                         'model.head.in_channels': 16})
    classifier = MODELS.build(cfg.model)
    assert isinstance(classifier.backbone, AttentionPooledViT)
    assert classifier.backbone.out_type == 'pooled'
    assert not any(p.requires_grad
                   for p in classifier.backbone.parameters())
    logits = classifier(torch.randn(2, 3, 32, 32), mode='tensor')
    assert logits.shape == (2, 1000)
