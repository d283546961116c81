"""Make a class subset of ImageNet (e.g. ImageNet-100) as the folder layout
``tools/analysis_tools/compare_methods.py``, ``tools/knn_eval.py`` and the
``configs/imagenet100/`` recipes read: ``OUT/{train,val}/<wnid>/``, of
symbolic links (``--copy``: copies) to the original images.

    python tools/misc/make_imagenet_subset.py data/imagenet data/imagenet100 \\
        --classes configs/imagenet100/imagenet100_classes.txt

IMAGENET holds ``train/<wnid>/*`` and either ``val/<wnid>/*`` or
mmpretrain's flat ``val/*.JPEG`` with ``meta/val.txt`` (``<file> <label>``
lines, the label indexing the sorted training folders). Every check runs
before anything is written, and OUT appears only when complete (it is
built beside it and renamed).
"""
import argparse
import os
import os.path as osp
import shutil


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('imagenet', help='ImageNet root (train/, val/)')
    parser.add_argument('out', help='folder to create (must not exist)')
    parser.add_argument('--classes', required=True,
                        help='text file: one wnid per line')
    parser.add_argument('--copy', action='store_true',
                        help='copy the images instead of linking them')
    return parser.parse_args(argv)


def read_classes(path):
    if not osp.isfile(path):
        raise SystemExit(f'make_imagenet_subset: no class list {path}')
    with open(path) as f:
        classes = [line.strip() for line in f if line.strip()]
    if not classes:
        raise SystemExit(f'make_imagenet_subset: {path} lists no class')
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise SystemExit(f'make_imagenet_subset: {path} repeats '
                         f'{", ".join(repeated)}')
    return classes


def val_images(root, train_classes, classes):
    """{wnid: [absolute image paths]} of the val split."""
    val = osp.join(root, 'val')
    if all(osp.isdir(osp.join(val, c)) for c in classes):
        return {c: sorted(osp.join(val, c, name)
                          for name in os.listdir(osp.join(val, c)))
                for c in classes}
    ann = osp.join(root, 'meta', 'val.txt')
    if not osp.isfile(ann):
        missing = next(c for c in classes if not osp.isdir(osp.join(val, c)))
        raise SystemExit(
            f'make_imagenet_subset: no {osp.join(val, missing)} and no {ann}:'
            ' the val split must be val/<wnid>/* or flat with meta/val.txt')
    wanted = set(classes)
    images = {c: [] for c in classes}
    with open(ann) as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].isdigit() or \
                    int(parts[1]) >= len(train_classes):
                raise SystemExit(f'make_imagenet_subset: {ann} line {number}'
                                 f': expected "<file> <label < '
                                 f'{len(train_classes)}>", got {line!r}')
            wnid = train_classes[int(parts[1])]
            if wnid in wanted:
                path = osp.join(val, parts[0])
                if not osp.isfile(path):
                    raise SystemExit(f'make_imagenet_subset: {ann} line '
                                     f'{number}: no image {path}')
                images[wnid].append(path)
    return images


def main(argv=None):
    args = parse_args(argv)
    root, out = osp.abspath(args.imagenet), osp.abspath(args.out)
    classes = read_classes(args.classes)
    train = osp.join(root, 'train')
    if not osp.isdir(train):
        raise SystemExit(f'make_imagenet_subset: no folder {train}')
    if osp.exists(out):
        raise SystemExit(f'make_imagenet_subset: {out} exists; remove it or '
                         'choose another OUT')
    train_classes = sorted(d for d in os.listdir(train)
                           if osp.isdir(osp.join(train, d)))
    missing = [c for c in classes if c not in train_classes]
    if missing:
        raise SystemExit(f'make_imagenet_subset: {train} has no class '
                         f'{", ".join(missing[:5])}'
                         f'{" ..." if len(missing) > 5 else ""} of '
                         f'{args.classes}')
    splits = dict(train={c: sorted(osp.join(train, c, name)
                                   for name in os.listdir(osp.join(train, c)))
                         for c in classes},
                  val=val_images(root, train_classes, classes))
    for split, images in splits.items():
        empty = [c for c in classes if not images[c]]
        if empty:
            raise SystemExit(f'make_imagenet_subset: no {split} image of '
                             f'{", ".join(empty[:5])}')
    from mte_mm.utils.atomic import atomic_folder  # after the checks
    with atomic_folder(out) as tmp:
        for split, images in splits.items():
            for wnid, paths in images.items():
                folder = osp.join(tmp, split, wnid)
                os.makedirs(folder)
                for path in paths:
                    target = osp.join(folder, osp.basename(path))
                    if args.copy:
                        shutil.copy2(path, target)
                    else:
                        os.symlink(path, target)
    counts = {split: sum(map(len, images.values()))
              for split, images in splits.items()}
    print(f'make_imagenet_subset: {out}: {len(classes)} classes, '
          f'{counts["train"]} train and {counts["val"]} val images '
          f'({"copied" if args.copy else "linked"})')
    return counts


if __name__ == '__main__':
    main()
