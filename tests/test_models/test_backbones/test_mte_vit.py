import copy
import math

import pytest
import torch
from mmpretrain.models import VisionTransformer

from mte_mm.models import MTEVisionTransformer

ARCH = dict(embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=64)


def build(**kwargs):
    kwargs = dict(dict(arch=ARCH, img_size=32, patch_size=8), **kwargs)
    model = MTEVisionTransformer(**kwargs)
    model.init_weights()
    model.eval()  # mmpretrain's BaseBackbone.train() returns None
    return model


def plain_copy(mte: MTEVisionTransformer, **kwargs) -> VisionTransformer:
    plain = VisionTransformer(arch=ARCH, img_size=32, patch_size=8, **kwargs)
    plain.load_state_dict(mte.export_state_dict(), strict=True)
    plain.eval()
    return plain


@pytest.mark.parametrize('out_type', ['cls_token', 'featmap', 'raw',
                                      'avg_featmap'])
def test_no_extra_tokens_equals_mmpretrain_vit(out_type):
    torch.manual_seed(0)
    mte = build(num_aux_tokens=0, out_type=out_type,
                out_indices=[1, 2])
    plain = plain_copy(mte, out_type=out_type, out_indices=[1, 2])
    x = torch.randn(2, 3, 32, 32)
    for ours, ref in zip(mte(x), plain(x)):
        torch.testing.assert_close(ours, ref, rtol=0, atol=0)


@pytest.mark.parametrize('size', [32, 16])  # global and local crop sizes
def test_one_way_aux_tokens_leave_global_and_patch_tokens_unchanged(size):
    torch.manual_seed(0)
    mte = build(num_aux_tokens=3)
    plain = plain_copy(mte, out_type='raw')
    x = torch.randn(2, 3, size, size)
    tokens = mte.forward_tokens(x)
    ref = plain(x)[0]
    torch.testing.assert_close(tokens['x_norm_clstoken'], ref[:, 0])
    torch.testing.assert_close(tokens['x_norm_patchtokens'], ref[:, 1:])
    # and the mmpretrain-contract forward is the plain ViT's output
    torch.testing.assert_close(mte(x)[0], plain_copy(mte)(x)[0])
    assert tokens['x_norm_auxtokens'].shape == (2, 3, 32)
    assert tokens['x_norm_patchtokens'].shape == (2, (size // 8)**2, 32)


def dense_reference(model: MTEVisionTransformer, x, one_way=True):
    """The one-way attention spelled out with a dense mask over [g, a, z]."""
    n_aux = model.num_aux_tokens
    main, aux, _ = model._embed(x)
    seq = torch.cat([main[:, :1], aux, main[:, 1:]], dim=1)
    length = seq.shape[1]
    allowed = torch.ones(length, length, dtype=torch.bool)
    if one_way:
        is_aux = torch.zeros(length, dtype=torch.bool)
        is_aux[1:1 + n_aux] = True
        allowed[:, is_aux] = False  # nobody sees aux keys ...
        allowed[is_aux, is_aux] = True  # ... except each aux its own
        allowed[is_aux.nonzero()[:, 0], is_aux.nonzero()[:, 0]] = True
        allowed[torch.outer(is_aux, is_aux) & ~torch.eye(length, dtype=bool)] \
            = False
    for layer in model.layers:
        attn = layer.attn
        h = layer.ln1(seq)
        b, n, c = h.shape
        qkv = attn.qkv(h).reshape(b, n, 3, attn.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~allowed, float('-inf'))
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        seq = seq + attn.proj(out)
        seq = layer.ffn(layer.ln2(seq), identity=seq)
    seq = model.ln1(seq)
    return seq[:, 0], seq[:, 1:1 + n_aux], seq[:, 1 + n_aux:]


@pytest.mark.parametrize('mode', ['one_way', 'full'])
def test_attention_matches_dense_mask_reference(mode):
    torch.manual_seed(0)
    mte = build(num_aux_tokens=3, aux_attention=mode)
    x = torch.randn(2, 3, 32, 32)
    tokens = mte.forward_tokens(x)
    g, a, z = dense_reference(mte, x, one_way=mode == 'one_way')
    torch.testing.assert_close(tokens['x_norm_clstoken'], g)
    torch.testing.assert_close(tokens['x_norm_auxtokens'], a)
    torch.testing.assert_close(tokens['x_norm_patchtokens'], z)


def test_aux_tokens_do_not_see_each_other_in_one_way_mode():
    torch.manual_seed(0)
    mte = build(num_aux_tokens=3)
    x = torch.randn(2, 3, 32, 32)
    before = mte.forward_tokens(x)['x_norm_auxtokens']
    with torch.no_grad():
        mte.aux_tokens[0, 2] += torch.randn(32)  # (a constant would be normed away)
    after = mte.forward_tokens(x)['x_norm_auxtokens']
    torch.testing.assert_close(after[:, :2], before[:, :2])
    assert (after[:, 2] - before[:, 2]).abs().max() > 1e-3


def test_full_attention_lets_aux_tokens_change_the_global_token():
    torch.manual_seed(0)
    mte = build(num_aux_tokens=2, aux_attention='full')
    x = torch.randn(2, 3, 32, 32)
    plain = plain_copy(mte)
    assert (mte(x)[0] - plain(x)[0]).abs().max() > 1e-4


def test_gradients_reach_aux_tokens_and_backbone():
    torch.manual_seed(0)
    mte = build(num_aux_tokens=2)
    mte.train()
    tokens = mte.forward_tokens(torch.randn(2, 3, 32, 32))
    aux = tokens['x_norm_auxtokens']  # (weighted: a LayerNorm output's
    (aux * torch.randn_like(aux)).sum().backward()  # plain sum is constant)
    for name in ['aux_tokens', 'layers.0.attn.qkv.weight',
                 'patch_embed.projection.weight']:
        grad = dict(mte.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_plain_vit_loads_mte_checkpoint_and_layer_depth():
    mte = build(num_aux_tokens=2)
    assert set(mte.state_dict()) - set(mte.export_state_dict()) == {
        'aux_tokens'}
    plain_copy(mte)  # strict load of everything else
    depth, total = mte.get_layer_depth('backbone.aux_tokens', 'backbone.')
    assert (depth, total) == (0, ARCH['num_layers'] + 2)
    with pytest.raises(TypeError, match='moved to the neck'):
        build(num_pooled_tokens=4)
    build(num_pooled_tokens=0)  # earlier fine-tuning configs said so


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="'sideways'"):
        build(aux_attention='sideways')
    with pytest.raises(ValueError, match='-1'):
        build(num_aux_tokens=-1)
    # the model deep-copies (the EMA teacher needs it)
    copy.deepcopy(build())


def test_last_layer_attention_without_aux_tokens():
    """N = 0 (the baselines' checkpoints): no auxiliary maps, and the global
    map is the one-way model's, which the auxiliary tokens never change."""
    plain = build(num_aux_tokens=0)
    with_aux = build(num_aux_tokens=2)
    with_aux.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, 3, 32, 32)
    maps = plain.last_layer_attention(x)
    assert maps['aux'].shape == (2, 0, 16)
    torch.testing.assert_close(maps['global_map'],
                               with_aux.last_layer_attention(x)['global_map'])


@pytest.mark.parametrize('mode', ['one_way', 'full'])
def test_last_layer_attention_maps_match_the_dense_reference(mode):
    from mte_mm.models.layers import full_block, one_way_block
    torch.manual_seed(0)
    n_aux = 2
    mte = build(num_aux_tokens=n_aux, aux_attention=mode)
    x = torch.randn(2, 3, 32, 32)
    maps = mte.last_layer_attention(x)
    assert maps['global_map'].shape == (2, 16)
    assert maps['aux'].shape == (2, n_aux, 16)
    # reference: dense attention probabilities of the last block over
    # [g, a, z] with the mode's mask, averaged over heads
    main, aux, _ = mte._embed(x)
    block = one_way_block if mode == 'one_way' else full_block
    with torch.no_grad():
        for layer in mte.layers[:-1]:
            main, aux = block(layer, main, aux)
        seq = torch.cat([main[:, :1], aux, main[:, 1:]], dim=1)
        layer = mte.layers[-1]
        qkv = layer.attn.qkv(layer.ln1(seq)).reshape(
            2, seq.shape[1], 3, layer.attn.num_heads, -1)
        q, k, _ = qkv.permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if mode == 'one_way':
            allowed = torch.ones(seq.shape[1], seq.shape[1], dtype=torch.bool)
            allowed[:, 1:1 + n_aux] = False
            allowed[range(1, 1 + n_aux), range(1, 1 + n_aux)] = True
            scores = scores.masked_fill(~allowed, float('-inf'))
        probs = scores.softmax(-1).mean(1)  # (B, L, L)
    torch.testing.assert_close(maps['global_map'], probs[:, 0, 1 + n_aux:])
    torch.testing.assert_close(maps['aux'],
                               probs[:, 1:1 + n_aux, 1 + n_aux:])


def test_mask_token_replaces_only_masked_patches_before_position():
    torch.manual_seed(0)
    mte = build(num_aux_tokens=2, use_mask_token=True)
    assert mte.mask_token.shape == (1, 32) and not mte.mask_token.any()
    with torch.no_grad():
        mte.mask_token.normal_()  # a trained value, to tell it apart
    x = torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0, 1, 2] = mask[0, 3, 3] = mask[1, 0, 0] = True
    masked, _, _ = mte._embed(x, mask)
    plain, _, _ = mte._embed(x)
    flat = torch.cat([torch.zeros(2, 1, dtype=torch.bool),
                      mask.flatten(1)], 1)  # the CLS token is never masked
    torch.testing.assert_close(masked[~flat], plain[~flat], rtol=0, atol=0)
    # masked patches: mask token + their own position embedding
    positions = flat.nonzero()[:, 1]
    torch.testing.assert_close(
        masked[flat], mte.mask_token + mte.pos_embed[0, positions])
    # gradients reach the mask token; forward() is the plain ViT's
    # (a plain sum of a LayerNorm output has zero gradient: weight it)
    cls = mte.forward_tokens(x, mask=mask)['x_norm_clstoken']
    (cls * torch.randn_like(cls)).sum().backward()
    assert mte.mask_token.grad.abs().sum() > 0
    torch.testing.assert_close(mte(x)[0], plain_copy(mte)(x)[0])
    assert 'mask_token' not in mte.export_state_dict()
    from mte_mm.models import extract_backbone  # the export drops it
    state = {f'backbone.{k}': v for k, v in mte.state_dict().items()}
    assert 'mask_token' not in extract_backbone(state, 'student')
    assert 'mask_token' in extract_backbone(state, 'student', keep_mte=True)
    assert mte.get_layer_depth('backbone.mask_token', 'backbone.')[0] == 0


def test_mask_errors_name_the_problem():
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match='use_mask_token=True'):
        build().forward_tokens(x, mask=torch.zeros(2, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match='2 images x 16 patches'):
        build(use_mask_token=True).forward_tokens(
            x, mask=torch.zeros(2, 9, dtype=torch.bool))


def bagged_reference(model: MTEVisionTransformer, x, aux_keys):
    """One-way attention over [g, a, z] with a dense per-image mask in which
    auxiliary token n of image b sees only the main tokens
    ``aux_keys[b, n]`` (and itself)."""
    n_aux = model.num_aux_tokens
    main, aux, _ = model._embed(x)
    num_main = main.shape[1]
    seq = torch.cat([main, aux], dim=1)  # main first here
    length = seq.shape[1]
    allowed = torch.zeros(x.shape[0], length, length, dtype=torch.bool)
    allowed[:, :num_main, :num_main] = True
    for n in range(n_aux):
        allowed[:, num_main + n, :num_main] = aux_keys[:, n]
        allowed[:, num_main + n, num_main + n] = True
    for layer in model.layers:
        attn = layer.attn
        h = layer.ln1(seq)
        b, t, c = h.shape
        q, k, v = attn.qkv(h).reshape(b, t, 3, attn.num_heads,
                                      -1).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~allowed[:, None], float('-inf'))
        seq = seq + attn.proj(
            (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, c))
        seq = layer.ffn(layer.ln2(seq), identity=seq)
    seq = model.ln1(seq)
    return seq[:, 0], seq[:, num_main:], seq[:, 1:num_main]


def test_bagged_aux_tokens_see_their_own_patch_subsets():
    torch.manual_seed(0)
    mte = build(num_aux_tokens=3, aux_patch_keep=0.5)
    mte.train()
    drawn = []
    draw = mte.draw_aux_keys
    mte.draw_aux_keys = lambda x, n: drawn.append(draw(x, n)) or drawn[-1]
    x = torch.randn(2, 3, 32, 32)  # 16 patches: 8 kept per token
    tokens = mte.forward_tokens(x)
    keys = drawn[-1]
    assert keys.shape == (2, 3, 17) and keys[..., 0].all()  # global kept
    assert (keys[..., 1:].sum(-1) == 8).all()
    assert not (keys[:, 0] == keys[:, 1]).all()  # a subset per token
    g, a, z = bagged_reference(mte, x, keys)
    torch.testing.assert_close(tokens['x_norm_auxtokens'], a)
    # the main path is a plain ViT's, bags or not
    plain = plain_copy(mte, out_type='raw')
    torch.testing.assert_close(tokens['x_norm_clstoken'], g)
    torch.testing.assert_close(tokens['x_norm_clstoken'], plain(x)[0][:, 0])
    torch.testing.assert_close(tokens['x_norm_patchtokens'],
                               plain(x)[0][:, 1:])
    mte.forward_tokens(x)
    assert not torch.equal(drawn[-1], keys)  # new bags every step
    # no bags without gradients (the teacher) or in eval mode: all patches
    full = build(num_aux_tokens=3)
    full.load_state_dict(mte.state_dict())
    for mode, grad in ((True, False), (False, True)):
        mte.train(mode)
        full.train(mode)
        count = len(drawn)
        with torch.set_grad_enabled(grad):
            torch.testing.assert_close(
                mte.forward_tokens(x)['x_norm_auxtokens'],
                full.forward_tokens(x)['x_norm_auxtokens'])
        assert drawn[count:] == [None]
    assert full.draw_aux_keys(torch.zeros(2, 17, 32), 3) is None
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match='aux_patch_keep'):
            build(num_aux_tokens=3, aux_patch_keep=bad)
    with pytest.raises(ValueError, match="aux_patch_keep < 1 needs"):
        build(num_aux_tokens=3, aux_patch_keep=0.5, aux_attention='full')


def test_export_contract_gives_the_plain_vit_and_checks_it():
    """export_config / export_state_dict make an mmpretrain ViT that
    export_errors finds equal, and a changed weight is caught."""
    from mmpretrain.registry import MODELS
    cfg = dict(type='MTEVisionTransformer', arch=ARCH, img_size=32,
               patch_size=8, num_aux_tokens=2, use_mask_token=True,
               aux_attention='one_way', drop_path_rate=0.1, out_type='raw')
    model = build(num_aux_tokens=2, use_mask_token=True, drop_path_rate=0.1,
                  out_type='raw')
    model.eval()
    plain_cfg = model.export_config(cfg)
    assert plain_cfg == dict(type='mmpretrain.VisionTransformer', arch=ARCH,
                             img_size=32, patch_size=8, out_type='raw')
    plain = MODELS.build(plain_cfg)
    plain.load_state_dict(model.export_state_dict())  # strict
    plain.eval()
    x = torch.randn(2, 3, 32, 32)
    errors = model.export_errors(plain, x)
    assert max(errors.values()) < 1e-5
    assert plain.out_type == 'raw'  # restored after the check
    with torch.no_grad():
        bias = plain.layers[1].ffn.layers[1].bias
        bias.add_(torch.randn_like(bias))
    assert max(model.export_errors(plain, x).values()) > 1e-3
    timm_sd, err = model.export_timm(cfg, x)
    assert err < 1e-5 and 'cls_token' in timm_sd
