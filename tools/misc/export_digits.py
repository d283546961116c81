"""Write scikit-learn's handwritten digits (the demo's data, shipped inside the
scikit-learn wheel) as an image folder, ``OUT/{train,val}/<digit>/<n>.png``,
with the split and upscaling of ``DigitsDataset`` (its ``test`` split is
``val``), so that the folder tools (``tools/analysis_tools/compare_methods.py``,
``tools/knn_eval.py``, ``KNNEvalHook``) evaluate the demo's model on the
same images it was evaluated on in the demo.

    python tools/misc/export_digits.py data/digits16 [--image-size 16]

OUT must not exist; it appears only when complete (written beside it, then
renamed).
"""
import argparse
import os
import os.path as osp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out', help='folder to create (must not exist)')
    parser.add_argument('--image-size', type=int, default=16,
                        help='side of the upscaled images (the demo: 16)')
    args = parser.parse_args(argv)
    out = osp.abspath(args.out)
    if osp.exists(out):
        raise SystemExit(f'export_digits.py: {out} exists; give a new folder')
    if args.image_size < 8:
        raise SystemExit('export_digits.py: --image-size must be >= 8 (the '
                         f'digits are 8 x 8), got {args.image_size}')
    from PIL import Image

    from mte_mm.datasets import DigitsDataset
    from mte_mm.utils.atomic import atomic_folder
    counts = {}
    with atomic_folder(out) as tmp:  # OUT did not exist (checked)
        for split, folder in (('train', 'train'), ('test', 'val')):
            dataset = DigitsDataset(split=split, image_size=args.image_size,
                                    lazy_init=False)
            for i in range(len(dataset)):
                info = dataset.get_data_info(i)
                target = osp.join(tmp, folder, str(info['gt_label']))
                os.makedirs(target, exist_ok=True)
                Image.fromarray(info['img']).save(
                    osp.join(target, f'{i:04d}.png'))
            counts[folder] = len(dataset)
    print(f'{counts["train"]} train / {counts["val"]} val digits of '
          f'{args.image_size} px -> {out}')


if __name__ == '__main__':
    main()
