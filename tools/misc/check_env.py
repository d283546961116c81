"""Check that the installed OpenMMLab stack works: compiled mmcv ops run and
mmpretrain / mmdet / mmseg / mte_mm import. Exits non-zero with the failing
component named."""
import sys


def main() -> None:
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
