"""The ImageNet-100 recipe (configs/imagenet100/) and the tool that makes
the subset folder (tools/misc/make_imagenet_subset.py)."""
import re
import sys

import pytest
from mmengine.config import Config

from ..conftest import REPO

sys.path.insert(0, str(REPO / 'tools' / 'misc'))
import make_imagenet_subset  # noqa: E402

IN100 = REPO / 'configs' / 'imagenet100'


def test_class_list_is_cmc_imagenet100():
    classes = (IN100 / 'imagenet100_classes.txt').read_text().split()
    assert len(classes) == len(set(classes)) == 100
    assert all(re.fullmatch(r'n\d{8}', c) for c in classes)
    # first and last of CMC's list (Tian et al. 2019)
    assert (classes[0], classes[-1]) == ('n02869837', 'n02090622')


@pytest.mark.parametrize('ours, reference', [
    ('mte_dino_vits16_in100.py', 'mte_dino_vits.py'),
    ('dino_vits16_in100.py', 'dino_vits.py')])
def test_recipes_are_the_vits16_recipes_on_the_subset(ours, reference):
    cfg = Config.fromfile(str(IN100 / ours)).to_dict()
    ref = Config.fromfile(str(REPO / 'configs' / reference)).to_dict()
    assert cfg['train_dataloader']['dataset'].pop('data_root') == \
        'data/imagenet100/'
    ref['train_dataloader']['dataset'].pop('data_root')
    assert cfg['default_hooks'].pop('checkpoint')['interval'] == 20
    ref['default_hooks'].pop('checkpoint')
    assert cfg == ref


def fake_imagenet(root, flat_val):
    """Three classes, two train and one val image each; the val split flat
    with mmpretrain's meta/val.txt or in class folders."""
    wnids = ['n00000003', 'n00000001', 'n00000002']
    lines = []
    for i, wnid in enumerate(wnids):
        (root / 'train' / wnid).mkdir(parents=True)
        for j in range(2):
            (root / 'train' / wnid / f'{wnid}_{j}.JPEG').write_bytes(b'x')
        name = f'ILSVRC2012_val_{i:08d}.JPEG'
        folder = root / 'val' if flat_val else root / 'val' / wnid
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b'y')
        lines.append(f'{name} {sorted(wnids).index(wnid)}')
    if flat_val:
        (root / 'meta').mkdir()
        (root / 'meta' / 'val.txt').write_text('\n'.join(lines) + '\n')


@pytest.mark.parametrize('flat_val', [True, False])
def test_subset_links_the_listed_classes(tmp_path, flat_val):
    fake_imagenet(tmp_path / 'in', flat_val)
    (tmp_path / 'list.txt').write_text('n00000002\nn00000003\n')
    counts = make_imagenet_subset.main([
        str(tmp_path / 'in'), str(tmp_path / 'out'),
        '--classes', str(tmp_path / 'list.txt')])
    assert counts == dict(train=4, val=2)
    out = tmp_path / 'out'
    assert sorted(p.name for p in (out / 'train').iterdir()) == \
        ['n00000002', 'n00000003']
    val = sorted((out / 'val' / 'n00000003').iterdir())
    assert [p.name for p in val] == ['ILSVRC2012_val_00000000.JPEG']
    assert val[0].is_symlink() and val[0].read_bytes() == b'y'
    assert sorted(p.name for p in (out / 'train' / 'n00000002').iterdir()) \
        == ['n00000002_0.JPEG', 'n00000002_1.JPEG']


def test_subset_errors_name_the_fault_and_write_nothing(tmp_path):
    fake_imagenet(tmp_path / 'in', flat_val=True)
    args = [str(tmp_path / 'in'), str(tmp_path / 'out'), '--classes',
            str(tmp_path / 'list.txt')]
    (tmp_path / 'list.txt').write_text('n00000002\nn09999999\n')
    with pytest.raises(SystemExit, match='no class n09999999'):
        make_imagenet_subset.main(args)
    (tmp_path / 'list.txt').write_text('n00000002\nn00000002\n')
    with pytest.raises(SystemExit, match='repeats n00000002'):
        make_imagenet_subset.main(args)
    (tmp_path / 'list.txt').write_text('n00000002\n')
    (tmp_path / 'in' / 'meta' / 'val.txt').write_text('bad line here\n')
    with pytest.raises(SystemExit, match='val.txt line 1'):
        make_imagenet_subset.main(args)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in', 'list.txt']
