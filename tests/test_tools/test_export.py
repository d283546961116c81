"""tools/export_backbone.py: MTE checkpoint -> plain mmpretrain / timm ViT."""
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from ..conftest import REPO, TINY_MTE_ARCH

sys.path.insert(0, str(REPO / 'tools'))
import export_backbone  # noqa: E402


def tiny_cfg():
    cfg = Config.fromfile(str(REPO / 'configs/mte_dino_vits.py'))
    for option in TINY_MTE_ARCH:
        key, value = option.split('=')
        cfg.merge_from_dict({key: int(value)})
    cfg.merge_from_dict({'model.backbone.img_size': 64})
    return cfg


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A checkpoint whose teacher and student differ (one EMA step apart)."""
    cfg = tiny_cfg()
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    model.init_weights()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path_factory.mktemp('ckpt') / 'mte.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()), path)
    return path, model


@pytest.mark.parametrize('source', ['teacher', 'student'])
def test_export_reproduces_mte_global_and_patch_tokens(checkpoint, tmp_path,
                                                       source):
    import timm.models.vision_transformer as timm_vit
    path, model = checkpoint
    paths = export_backbone.export(tiny_cfg(), str(path), str(tmp_path),
                                   source=source)
    backbone = (model.teacher.module['backbone'] if source == 'teacher'
                else model.backbone)
    backbone.eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        tokens = backbone.forward_tokens(x)
        want = torch.cat([tokens['x_norm_clstoken'][:, None],
                          tokens['x_norm_patchtokens']], 1)
        # (a) as init_cfg of a plain mmpretrain ViT
        plain = VisionTransformer(
            arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                      feedforward_channels=64), img_size=64, patch_size=32,
            out_type='raw',
            init_cfg=dict(type='Pretrained', checkpoint=paths['mmpretrain']))
        plain.init_weights()
        plain.eval()
        torch.testing.assert_close(plain(x)[0], want, atol=1e-5, rtol=0)
        # (b) timm
        vit = timm_vit.VisionTransformer(
            img_size=64, patch_size=32, embed_dim=32, depth=2, num_heads=2,
            mlp_ratio=2, num_classes=0)
        vit.load_state_dict(torch.load(paths['timm']))
        vit.eval()
        torch.testing.assert_close(vit.forward_features(x), want, atol=1e-5,
                                   rtol=0)
    assert not list(tmp_path.glob('*.tmp'))
    exported = torch.load(paths['mmpretrain'], weights_only=False)
    assert not any(k.startswith(('aux_tokens', 'pooling'))
                   for k in exported['state_dict'])
    assert exported['meta']['source'] == source


def test_export_errors_name_the_problem(checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        export_backbone.export(tiny_cfg(), str(tmp_path / 'nope.pth'),
                               str(tmp_path))
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(b'\x00garbage')
    with pytest.raises(ValueError, match='corrupt.pth'):
        export_backbone.export(tiny_cfg(), str(corrupt), str(tmp_path))
    headless = tmp_path / 'student_only.pth'
    state = torch.load(checkpoint[0], weights_only=False)['state_dict']
    torch.save({'state_dict': {k: v for k, v in state.items()
                               if not k.startswith('teacher.')}}, headless)
    with pytest.raises(KeyError, match='teacher.module.backbone.'):
        export_backbone.export(tiny_cfg(), str(headless), str(tmp_path / 'o'))
    assert not (tmp_path / 'o').exists()  # nothing half-written


def test_visualize_tokens_writes_one_panel_per_token(checkpoint, tmp_path):
    import numpy as np
    from PIL import Image

    from ..conftest import run_tool
    image = tmp_path / 'digit.png'
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 256, (80, 60, 3)).astype(np.uint8)).save(
        image)
    out = tmp_path / 'maps' / 'tokens.png'
    options = [f'{o.split("=")[0]}={o.split("=")[1]}' for o in TINY_MTE_ARCH]
    proc = run_tool(['tools/visualize_tokens.py',
                     str(REPO / 'configs/mte_dino_vits.py'), checkpoint[0],
                     image, '--out', out, '--panel', '40', '--cfg-options',
                     *options, 'model.backbone.img_size=64'])
    assert '9 panels (global, aux_0, aux_1, aux_2, aux_3, pooled_0' in \
        proc.stdout
    grid = np.asarray(Image.open(out).convert('RGB')).astype(int)
    assert grid.shape == (40 + 16, 9 * 40, 3)  # label strip + 9 panels
    panels = [grid[16:, i * 40:(i + 1) * 40] for i in range(9)]
    # every panel is an overlay of the same image with its own map
    assert all(np.abs(p - panels[0]).max() > 0 for p in panels[1:5])
    assert not list(out.parent.glob('*.tmp*'))


def convnext_cfg():
    cfg = Config.fromfile(str(REPO / 'configs/mte_dino_convnext_tiny.py'))
    cfg.merge_from_dict({
        'model.backbone.backbone.arch': dict(
            _delete_=True, depths=[1, 1, 1, 1], channels=[8, 8, 16, 16]),
        'model.backbone.num_aux_tokens': 1,
        'model.backbone.aux_num_heads': 1,
        'model.neck.in_channels': 16,
        'model.neck.projector.in_channels': 16,
        'model.neck.projector.out_channels': 32,
        'model.neck.projector.hidden_channels': 16,
        'model.neck.projector.bottleneck_channels': 8,
        'model.head.out_channels': 32})
    return cfg


def test_convnext_export_is_the_plain_backbone_and_verified(tmp_path,
                                                            monkeypatch):
    from mmpretrain.models import ConvNeXt
    cfg = convnext_cfg()
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # a student that differs from its teacher
        for p in model.backbone.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / 'mte.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    x = torch.randn(2, 3, 64, 64)
    for source, adapter in (('teacher', model.teacher.module['backbone']),
                            ('student', model.backbone)):
        paths = export_backbone.export(cfg, str(path), str(tmp_path / 'out'),
                                       source=source)
        assert set(paths) == {'mmpretrain'}
        saved = torch.load(paths['mmpretrain'], weights_only=False)
        assert saved['meta']['backbone']['type'] == 'mmpretrain.ConvNeXt'
        plain = ConvNeXt(arch=dict(depths=[1, 1, 1, 1],
                                   channels=[8, 8, 16, 16]))
        plain.load_state_dict(saved['state_dict'])  # strict: no aux keys
        plain.eval()
        adapter.eval()
        torch.testing.assert_close(plain(x)[-1], adapter(x)[-1])
    # a conversion that changed a weight is caught before anything is written
    from mte_mm.models import FeatureMapTokenAdapter
    convert = FeatureMapTokenAdapter.export_state_dict

    def broken(self):
        out = convert(self)
        out['norm3.bias'] = out['norm3.bias'] + 1
        return out
    monkeypatch.setattr(FeatureMapTokenAdapter, 'export_state_dict', broken)
    with pytest.raises(RuntimeError, match='verification failed'):
        export_backbone.export(cfg, str(path), str(tmp_path / 'bad'))
    assert not (tmp_path / 'bad').exists()


def test_pooled_export_reproduces_the_mte_pooled_feature(checkpoint,
                                                         tmp_path):
    """``--pooled``: an AttentionPooledViT whose feature is the mean of the
    normalised pooled tokens of the MTE teacher (backbone + neck pooling),
    loadable by init_cfg, with the plain exports unchanged beside it."""
    import torch.nn.functional as F
    path, model = checkpoint
    paths = export_backbone.export(tiny_cfg(), str(path), str(tmp_path),
                                   pooled=True)
    assert set(paths) == {'mmpretrain', 'timm', 'pooled'}
    teacher = model.teacher.module
    teacher.eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        patches = teacher['backbone'].forward_tokens(x)['x_norm_patchtokens']
        keys = patches @ teacher['neck'].pooling.key.weight.T
        scores = torch.einsum('kc,bpc->bkp', teacher['neck'].pooling.queries,
                              keys) / 32 ** 0.5
        pooled = scores.softmax(-1) @ patches
        want = F.normalize(pooled, dim=-1).mean(1)
        saved = torch.load(paths['pooled'], weights_only=False)
        backbone_cfg = dict(saved['meta']['backbone'],
                            init_cfg=dict(type='Pretrained',
                                          checkpoint=paths['pooled']))
        assert backbone_cfg['type'] == 'mte_mm.AttentionPooledViT'
        exported = MODELS.build(backbone_cfg)
        exported.init_weights()
        exported.eval()
        got = exported(x)
    assert len(got) == 1 and got[0].shape == (3, 32)
    torch.testing.assert_close(got[0], want, atol=1e-5, rtol=0)
    plain = torch.load(paths['mmpretrain'], weights_only=False)['state_dict']
    assert set(saved['state_dict']) == set(plain) | {'pooling.queries',
                                                     'pooling.key.weight'}


def test_pooled_export_errors_before_writing(checkpoint, tmp_path):
    cfg = tiny_cfg()
    cfg.merge_from_dict({'model.neck.num_pooled_tokens': 0})
    with pytest.raises(ValueError, match='num_pooled_tokens=0'):
        export_backbone.export(cfg, str(checkpoint[0]), str(tmp_path / 'o'),
                               pooled=True)
    assert not (tmp_path / 'o').exists()
    state = torch.load(checkpoint[0], weights_only=False)['state_dict']
    no_pooling = tmp_path / 'no_pooling.pth'
    torch.save({'state_dict': {k: v for k, v in state.items()
                               if '.pooling.' not in k
                               and not k.startswith('neck.pooling')}},
               no_pooling)
    with pytest.raises(KeyError, match='teacher.module.neck.pooling.'):
        export_backbone.export(tiny_cfg(), str(no_pooling),
                               str(tmp_path / 'p'), pooled=True)
    assert not (tmp_path / 'p').exists()
