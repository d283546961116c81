"""Data errors: a missing or empty data root stops every tool in one line
before any model is built; an unreadable image is named, or skipped (the
epoch keeps its length); tools/check_dataset.py lists exactly the bad files."""
import io

import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from PIL import Image

from mte_mm.datasets import (CheckedLoadImageFromFile, UnreadableImageError,
                             jpeg_truncated)

from ..conftest import TINY_MTE_ARCH, free_port, write_images
from ..helpers.tool_server import tool_process
from ..test_configs.test_pretrain_configs import options

CONFIG = 'configs/mte_dino_vits.py'


def run(args, env=None, timeout=300):
    """A tool as a user runs it; the completed process, whatever its exit
    code."""
    return tool_process(args, env=env, timeout=timeout)


def jpeg_bytes(seed=0, size=48, **save_args):
    rng = np.random.RandomState(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.randint(0, 256, (size, size, 3)).astype(np.uint8)) \
        .save(buf, format='JPEG', **save_args)
    return buf.getvalue()


@pytest.fixture(scope='module')
def bad_folder(tmp_path_factory):
    """6 good JPEGs, a truncated JPEG and a text file named .JPEG."""
    root = tmp_path_factory.mktemp('bad_images')
    write_images(root / 'train' / 'n01', 3, (0, 256), seed=1)
    write_images(root / 'train' / 'n02', 3, (0, 256), seed=2)
    truncated = root / 'train' / 'n01' / 'truncated.JPEG'
    data = jpeg_bytes(seed=3)
    truncated.write_bytes(data[:len(data) * 2 // 3])
    not_image = root / 'train' / 'n02' / 'notes.JPEG'
    not_image.write_text('this is not an image\n')
    return root, {str(truncated), str(not_image)}


def one_error_line(proc, tool):
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if tool in line]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_missing_data_root_is_one_line_before_any_model(tmp_path):
    work_dir = tmp_path / 'work'
    proc = run(['tools/train.py', CONFIG, '--work-dir', work_dir,
                '--cfg-options',
                f'train_dataloader.dataset.data_root={tmp_path}/imagenet/'])
    line = one_error_line(proc, 'tools/train.py')
    assert f"data root '{tmp_path}/imagenet/' does not exist" in line
    assert 'train_dataloader.dataset.data_root' in line
    assert f'{tmp_path}/imagenet/train/<class>/<image>' in line
    assert not work_dir.exists()  # no Runner was built


def test_empty_data_root(tmp_path):
    (tmp_path / 'train' / 'n01').mkdir(parents=True)
    (tmp_path / 'train' / 'n01' / 'readme.txt').write_text('no images')
    proc = run(['tools/train.py', CONFIG, '--cfg-options',
                f'train_dataloader.dataset.data_root={tmp_path}'])
    line = one_error_line(proc, 'tools/train.py')
    assert f"no image files under '{tmp_path}/train'" in line
    assert 'train_dataloader.dataset.data_root' in line


def test_missing_root_with_dist_train_is_reported_once(tmp_path):
    proc = run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--cfg-options',
                f'train_dataloader.dataset.data_root={tmp_path}/nowhere'],
               env={'PORT': str(free_port())})
    line = one_error_line(proc, 'tools/train.py')
    assert 'nowhere' in line
    assert 'torch.distributed' not in proc.stderr  # no process was started


def test_knn_eval_missing_root(tmp_path):
    proc = run(['tools/knn_eval.py', CONFIG, tmp_path / 'none.pth',
                '--data-root', tmp_path / 'nowhere'])
    line = one_error_line(proc, 'tools/knn_eval.py')
    assert f"no folder '{tmp_path}/nowhere/train'" in line
    assert '--data-root' in line


def test_missing_annotation_file_names_the_key(tmp_path):
    from mte_mm.utils import DataRootError, check_data_roots
    (tmp_path / 'train2017').mkdir()
    cfg = dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2, dataset=dict(
            type='CocoDataset', data_root=str(tmp_path),
            ann_file='annotations/train.json',
            data_prefix=dict(img='train2017/')))))
    with pytest.raises(DataRootError, match=r'train_dataloader\.dataset\.'
                       r'dataset: annotation file .*annotations/train\.json'):
        check_data_roots(cfg)


def _load(transform, path):
    return transform(dict(img_path=str(path)))


def test_checked_loading_equals_mmcv_on_good_images(tmp_path):
    path = tmp_path / 'good.jpg'
    path.write_bytes(jpeg_bytes(seed=5))
    ours = _load(CheckedLoadImageFromFile(), path)
    theirs = _load(LoadImageFromFile(), path)
    assert np.array_equal(ours['img'], theirs['img'])
    assert ours['img_shape'] == theirs['img_shape'] == (48, 48)
    # progressive JPEGs (several scans) and bytes after the end marker are
    # complete files
    assert not jpeg_truncated(jpeg_bytes(seed=6, progressive=True))
    assert not jpeg_truncated(jpeg_bytes(seed=6) + b'camera trailer')


def test_unreadable_images_are_named(bad_folder):
    root, bad = bad_folder
    truncated = next(p for p in bad if p.endswith('truncated.JPEG'))
    not_image = next(p for p in bad if p.endswith('notes.JPEG'))
    # mmcv's own loader: a bare assertion
    with pytest.raises(AssertionError, match='failed to load image'):
        _load(LoadImageFromFile(), truncated)
    with pytest.raises(UnreadableImageError,
                       match=f'{truncated}: truncated JPEG'):
        _load(CheckedLoadImageFromFile(), truncated)
    with pytest.raises(UnreadableImageError,
                       match=f'{not_image}: not decodable'):
        _load(CheckedLoadImageFromFile(), not_image)
    skipping = CheckedLoadImageFromFile(on_unreadable='skip')
    assert _load(skipping, truncated) is None
    assert _load(skipping, not_image) is None and skipping.skipped == 2
    with pytest.raises(ValueError, match="on_unreadable='ignore'"):
        CheckedLoadImageFromFile(on_unreadable='ignore')


def test_skip_policy_trains_a_full_epoch_over_bad_files(bad_folder,
                                                        tmp_path):
    root, bad = bad_folder
    proc = run(['tools/train.py', CONFIG, '--work-dir', tmp_path,
                '--cfg-options', *options(root, 1),
                'train_dataloader.dataset.pipeline.1.on_unreadable=skip'])
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    # 8 files, 2 of them bad, batch 2: still 4 iterations (each bad file
    # replaced by another sample)
    assert 'Epoch(train) [1][4/4]' in log
    for path in bad:
        assert f'skipped unreadable image {path}' in log


def test_the_default_policy_stops_naming_the_file(bad_folder, tmp_path):
    root, bad = bad_folder
    proc = run(['tools/train.py', CONFIG, '--work-dir', tmp_path,
                '--cfg-options', *options(root, 1)])
    assert proc.returncode != 0
    assert 'UnreadableImageError: unreadable image' in proc.stderr
    assert any(f'unreadable image {p}' in proc.stderr for p in bad)


def test_check_dataset_lists_exactly_the_bad_files(bad_folder, tmp_path):
    root, bad = bad_folder
    out = tmp_path / 'bad.txt'
    proc = run(['tools/check_dataset.py', root, '--workers', '2',
                '--out', out])
    assert proc.returncode == 1, proc.stderr
    assert set(out.read_text().splitlines()) == bad
    listed = [line.split(': ')[0] for line in proc.stdout.splitlines()
              if ': ' in line and not line.startswith('checked')]
    assert set(listed) == bad
    assert 'checked 8 images' in proc.stdout and '2 unreadable' in proc.stdout
    clean = tmp_path / 'clean'
    write_images(clean / 'n01', 4, (0, 256), seed=9)
    assert run(['tools/check_dataset.py', clean]).returncode == 0
    assert run(['tools/check_dataset.py', tmp_path / 'none']).returncode == 2


def test_check_data_passes_a_real_folder(image_folder, tmp_path):
    """The check passes a real folder through (then training runs)."""
    proc = run(['tools/train.py', CONFIG, '--check-data', '--cfg-options',
                *TINY_MTE_ARCH,
                f'train_dataloader.dataset.data_root={image_folder}'])
    assert proc.returncode == 0 and proc.stderr.count('tools/train.py') == 0
