"""Throughput of DINO multi-crop data pipelines (2 x 224 + 8 x 96 crops),
images/s per core, measured side by side on the same JPEGs:

* ``reference``: DINO's official composition in torchvision / Pillow
  (written here: RandomResizedCrop bicubic, flip, ColorJitter(0.4, 0.4, 0.2,
  0.1) p 0.8, grayscale 0.2, Pillow Gaussian blur p 1.0 / 0.1 / 0.5,
  solarize p 0.2 on the second global crop, ToTensor + Normalize);
* ``per_image``: our per-image pipeline
  (``configs/_base_/datasets/imagenet_dino_multicrop.py``);
* ``fast``: the CPU side of our fast pipeline
  (``configs/_base_/datasets/imagenet_dino_multicrop_fast.py``: decode,
  crop and resize, parameters drawn);
* ``fast_preprocessor``: the rest of the fast pipeline, the batched
  photometric augmentation and normalisation of
  ``MultiCropPhotometricPreprocessor``, on this machine's CPU (and on the
  GPU when there is one): the work that leaves the data workers.

One process, one thread, ``--rounds`` interleaved rounds, best round per
pipeline. Then the end-to-end data-loader throughput with ``--workers``
processes for ``per_image`` and ``fast``.

    python tools/benchmarks/data_pipeline.py [--folder DIR] [--images 100]
        [--rounds 3] [--workers 2] [--batch 16]

Without ``--folder`` it writes ``--images`` JPEGs of ImageNet's typical size
(500 x 375, smooth colours plus texture) to a temporary folder.
"""
import os

os.environ.setdefault('OMP_NUM_THREADS', '1')  # per core, before torch

import argparse  # noqa: E402
import glob  # noqa: E402
import os.path as osp  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageFilter, ImageOps  # noqa: E402

from _measure import REPO  # noqa: E402

sys.path.insert(0, REPO)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
BASES = osp.join(REPO, 'configs', '_base_', 'datasets')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--folder', help='JPEGs to read (recursively)')
    parser.add_argument('--images', type=int, default=100)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--batch', type=int, default=16)
    args = parser.parse_args(argv)
    if args.images < 1 or args.rounds < 1 or args.workers < 0:
        parser.error('--images and --rounds must be >= 1, --workers >= 0')
    return args


def write_jpegs(folder, count, seed=0):
    """ImageNet-like JPEGs: smooth colour fields with fine texture."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3),
                                              dtype=np.uint8))
        img = np.asarray(coarse.resize((500, 375), Image.BICUBIC),
                         dtype=np.float32)
        img = img + rng.normal(0, 12, img.shape)
        path = osp.join(folder, f'img_{i:04d}.JPEG')
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            path, quality=90)
        paths.append(path)
    return paths


# -- DINO's official composition, in torchvision ------------------------------
def reference_pipeline():
    from torchvision import transforms as T

    class PILBlur:
        def __init__(self, p):
            self.p = p

        def __call__(self, img):
            if np.random.rand() >= self.p:
                return img
            return img.filter(ImageFilter.GaussianBlur(
                radius=np.random.uniform(0.1, 2.0)))

    class PILSolarize:
        def __init__(self, p):
            self.p = p

        def __call__(self, img):
            return ImageOps.solarize(img) if np.random.rand() < self.p \
                else img

    bicubic = T.InterpolationMode.BICUBIC
    flip_and_color = T.Compose([
        T.RandomHorizontalFlip(p=0.5),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2)])
    normalize = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    global1 = T.Compose([T.RandomResizedCrop(224, (0.4, 1.0),
                                             interpolation=bicubic),
                         flip_and_color, PILBlur(1.0), normalize])
    global2 = T.Compose([T.RandomResizedCrop(224, (0.4, 1.0),
                                             interpolation=bicubic),
                         flip_and_color, PILBlur(0.1), PILSolarize(0.2),
                         normalize])
    local = T.Compose([T.RandomResizedCrop(96, (0.05, 0.4),
                                           interpolation=bicubic),
                       flip_and_color, PILBlur(0.5), normalize])

    def run(path):
        with open(path, 'rb') as f:
            img = Image.open(f).convert('RGB')
        return [global1(img), global2(img)] + [local(img) for _ in range(8)]
    return run


def ours(name):
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mte_mm  # noqa: F401
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(BASES, name))
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    return (lambda path: pipeline(dict(img_path=path))), cfg


def images_per_second(run, paths):
    start = time.perf_counter()
    for path in paths:
        run(path)
    return len(paths) / (time.perf_counter() - start)


def preprocessor_rate(cfg, fast, paths, batch, device):
    """Images/s of the fast preprocessor on ``device`` (batches of
    ``batch`` images of 10 views each)."""
    from mmengine.dataset import default_collate
    from mmpretrain.registry import MODELS
    pre = MODELS.build(cfg.data_preprocessor).to(device)
    data = default_collate([fast(p) for p in paths[:batch]])
    pre(data, True)  # warm-up (and CUDA kernels)
    sync = torch.cuda.synchronize if device != 'cpu' else (lambda: None)
    sync()
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < 2.0 or count < 2:
        pre(data, True)
        count += 1
    sync()
    return count * batch / (time.perf_counter() - start)


def loader_rate(name, paths, workers, batch):
    """End-to-end: a DataLoader with ``workers`` processes over ``paths``
    (one warm-up batch, then the rest)."""
    from mmengine.dataset import default_collate
    from torch.utils.data import DataLoader, Dataset
    run, _ = ours(name)

    class Files(Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            return run(paths[i])

    loader = DataLoader(Files(), batch_size=batch, num_workers=workers,
                        collate_fn=default_collate)
    it = iter(loader)
    next(it)
    start, seen = time.perf_counter(), 0
    for data in it:
        seen += len(data['data_samples'])
    return seen / (time.perf_counter() - start) if seen else float('nan')


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    tmp = None
    if args.folder:
        paths = sorted(glob.glob(osp.join(args.folder, '**', '*.*'),
                                 recursive=True))
        paths = [p for p in paths if p.lower().endswith(('.jpeg', '.jpg'))]
        if not paths:
            raise SystemExit(f'data_pipeline.py: no JPEGs under {args.folder}')
        paths = paths[:args.images]
    else:
        tmp = tempfile.TemporaryDirectory()
        paths = write_jpegs(tmp.name, args.images)
    size = Image.open(paths[0]).size
    print(f'{len(paths)} JPEGs ({"from " + args.folder if args.folder else "generated"}, '
          f'first {size[0]} x {size[1]}), 2 x 224 + 8 x 96 crops, '
          f'1 thread, best of {args.rounds} interleaved rounds')
    fast, fast_cfg = ours('imagenet_dino_multicrop_fast.py')
    per_image, _ = ours('imagenet_dino_multicrop.py')
    runs = dict(reference=reference_pipeline(), per_image=per_image,
                fast=fast)
    for run in runs.values():  # warm-up: imports, caches
        run(paths[0])
    best = {name: 0.0 for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            best[name] = max(best[name], images_per_second(run, paths))
    pre_cpu = preprocessor_rate(fast_cfg, fast, paths, args.batch, 'cpu')
    rows = [(name, rate, rate / best['reference'])
            for name, rate in best.items()]
    print('\n| pipeline | images/s per core | vs reference |\n|---|---|---|')
    for name, rate, ratio in rows:
        print(f'| {name} | {rate:.1f} | {ratio:.2f}x |')
    print(f'| fast_preprocessor (CPU, batch {args.batch}) | {pre_cpu:.1f} | '
          f'{pre_cpu / best["reference"]:.2f}x |')
    both = 1 / (1 / best['fast'] + 1 / pre_cpu)
    print(f'| fast + its preprocessor, both on this CPU | {both:.1f} | '
          f'{both / best["reference"]:.2f}x |')
    if torch.cuda.is_available():
        pre_gpu = preprocessor_rate(fast_cfg, fast, paths, args.batch,
                                    'cuda')
        print(f'| fast_preprocessor ({torch.cuda.get_device_name()}, batch '
              f'{args.batch}) | {pre_gpu:.1f} | - |')
    if args.workers:
        print(f'\ndata loader, {args.workers} workers, batch {args.batch}: '
              + ', '.join(f'{name} {loader_rate(cfg, paths, args.workers, args.batch):.1f} images/s'
                          for name, cfg in (
                              ('per_image', 'imagenet_dino_multicrop.py'),
                              ('fast', 'imagenet_dino_multicrop_fast.py'))))
    if tmp is not None:
        tmp.cleanup()


if __name__ == '__main__':
    main()
