"""List every unreadable or truncated image under a folder, before a long run
finds it (the test that training's ``CheckedLoadImageFromFile`` applies).

    python tools/check_dataset.py data/imagenet/train [--workers 16] \\
        [--out bad_images.txt]

Prints one line per bad file (path and problem) and a summary; exits 1 if
any file is bad, 2 if the folder is missing or holds no image.
"""
import argparse
import multiprocessing
import os
import os.path as osp
import sys
import time

from mte_mm.datasets.image_check import decode_image
from mte_mm.utils.atomic import atomic_write
from mte_mm.utils.data_check import IMAGE_EXTENSIONS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('folder', help='folder to scan (recursively)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='processes (default: all cores)')
    parser.add_argument('--backend', default='cv2',
                        help="decoder, as the pipeline's imdecode_backend "
                        "(default 'cv2')")
    parser.add_argument('--out', help='write the bad paths here, one a line')
    return parser.parse_args(argv)


def image_files(folder):
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs.sort()
        for name in sorted(names):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                yield osp.join(root, name)


def check_file(args):
    path, backend = args
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as exc:
        return path, f'cannot be read ({exc})'
    return path, decode_image(data, backend=backend)[1]


def main(argv=None):
    args = parse_args(argv)
    if not osp.isdir(args.folder):
        print(f'check_dataset: no folder {args.folder}', file=sys.stderr)
        return 2
    if args.workers < 1:
        print('check_dataset: --workers must be >= 1', file=sys.stderr)
        return 2
    files = list(image_files(args.folder))
    if not files:
        print(f'check_dataset: no image files ({", ".join(IMAGE_EXTENSIONS)})'
              f' under {args.folder}', file=sys.stderr)
        return 2
    start = time.time()
    jobs = [(path, args.backend) for path in files]
    if args.workers == 1:
        results = map(check_file, jobs)
        bad = [(p, why) for p, why in results if why]
    else:
        with multiprocessing.get_context('fork').Pool(args.workers) as pool:
            bad = [(p, why) for p, why in
                   pool.imap(check_file, jobs, chunksize=64) if why]
    for path, why in bad:
        print(f'{path}: {why}')
    print(f'checked {len(files)} images in {time.time() - start:.1f} s with '
          f'{args.workers} processes: {len(bad)} unreadable')
    if args.out:
        atomic_write(args.out, ''.join(f'{path}\n' for path, _ in bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
