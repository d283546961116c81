"""tools/demo.py (the README's main job) end to end at a toy size."""
import re

from ..conftest import run_tool


def test_demo_prints_knn_before_and_after_and_checkpoint(tmp_path):
    proc = run_tool([
        'tools/demo.py', '--work-dir', tmp_path, '--epochs', '1',
        '--cfg-options', 'train_dataloader.dataset.indices=128',
        'train_dataloader.batch_size=32'])
    out = proc.stdout
    rows = {m.group(1): [float(v) for v in m.group(2).split()]
            for m in re.finditer(r'^(global|aux_\d|pooled_\d|pooled|ensemble)\s+'
                                 r'([\d. ]+)$', out, re.M)}
    assert set(rows) == {'global', 'pooled', 'ensemble'} | {
        f'aux_{i}' for i in range(4)} | {f'pooled_{i}' for i in range(4)}
    for values in rows.values():  # k=10 before/after, k=20 before/after
        assert len(values) == 4 and all(0 <= v <= 100 for v in values)
        assert max(values) > 10  # better than chance on 10 digits
    ckpt = re.search(r'^checkpoint: (.+)$', out, re.M).group(1)
    assert ckpt.endswith('epoch_1.pth') and (tmp_path / 'epoch_1.pth').is_file()
