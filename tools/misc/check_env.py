"""Check that the installed OpenMMLab stack works: compiled mmcv ops run and
mmpretrain / mmdet / mmseg / mte_mm import. Exits non-zero with the failing
component named.

    python tools/misc/check_env.py [--pretraining]

``--pretraining``: the pretraining-only stack (mmcv-lite, no mmdet / mmseg):
mmengine, mmpretrain and mte_mm import and build a model."""
import sys


def check_pretraining() -> None:
    import mmcv
    import mmengine
    import mmpretrain
    import torch

    import mte_mm
    from mmpretrain.registry import MODELS
    backbone = MODELS.build(dict(type='MTEVisionTransformer', arch=dict(
        embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),
        img_size=32, patch_size=16, num_aux_tokens=2))
    tokens = backbone.forward_tokens(torch.zeros(1, 3, 32, 32))
    aux = tokens['x_norm_auxtokens']
    assert aux.shape == (1, 2, 32), aux.shape
    print(f'ok (pretraining): torch {torch.__version__}, mmcv '
          f'{mmcv.__version__}, mmengine {mmengine.__version__}, mmpretrain '
          f'{mmpretrain.__version__}, mte_mm {mte_mm.__version__}')


def main() -> None:
    if sys.argv[1:] == ['--pretraining']:
        return check_pretraining()
    if sys.argv[1:]:
        raise SystemExit(f'usage: {sys.argv[0]} [--pretraining]')
    import torch
    import mmcv
    from mmcv.ops import RoIAlign, nms

    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2], f'mmcv.ops.nms returned {keep.tolist()}'
    feat = torch.arange(16.).view(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = RoIAlign((1, 1), spatial_scale=1.0, sampling_ratio=2)(feat, rois)
    assert torch.allclose(out.flatten(), feat.mean().view(1)), out

    import mmdet
    import mmdet.models  # noqa: F401  (the model zoo imports more deps)
    import mmengine
    import mmpretrain
    import mmpretrain.models  # noqa: F401
    import mmseg
    import mmseg.models  # noqa: F401
    import mte_mm
    print(f'ok: torch {torch.__version__}, mmcv {mmcv.__version__} (ops), '
          f'mmengine {mmengine.__version__}, mmpretrain {mmpretrain.__version__}, '
          f'mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
          f'mte_mm {mte_mm.__version__}')


if __name__ == '__main__':
    try:
        main()
    except Exception as exc:  # report, then fail the set-up
        print(f'stack check failed: {type(exc).__name__}: {exc}', file=sys.stderr)
        raise
