"""tools/demo.py (the README's main job) end to end at a toy size."""
import importlib.util
import json
import re

from PIL import Image

from ..conftest import REPO, run_tool

KINDS = {'global', 'pooled', 'ensemble'} | {f'aux_{i}' for i in range(4)} | \
    {f'pooled_{i}' for i in range(4)}


def _demo_module():
    spec = importlib.util.spec_from_file_location('demo_tool',
                                                  REPO / 'tools/demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_shows_progress_table_and_summary(tmp_path):
    proc = run_tool([
        'tools/demo.py', '--work-dir', tmp_path, '--epochs', '2',
        '--cfg-options', 'train_dataloader.dataset.indices=128',
        'train_dataloader.batch_size=32'])
    out = proc.stdout
    # progress instead of mmengine's log, which stays in the work dir
    assert re.findall(r'^epoch +(\d)/2  loss', out, re.M) == ['1', '2']
    assert 'mmengine - INFO' not in out
    logs = list(tmp_path.glob('*/*.log'))
    assert len(logs) == 1 and 'Epoch(train)' in logs[0].read_text()
    rows = {m.group(1): [float(v) for v in m.group(2).split()]
            for m in re.finditer(r'^(global|aux_\d|pooled_\d|pooled|ensemble)'
                                 r'\s+([\d. ]+)$', out, re.M)}
    assert set(rows) == KINDS
    ckpt = re.search(r'^checkpoint: (.+)$', out, re.M).group(1)
    assert ckpt.endswith('epoch_2.pth') and (tmp_path / 'epoch_2.pth').is_file()
    # the PNG beside the checkpoint carries the printed numbers
    summary = re.search(r'^summary: (.+)$', out, re.M).group(1)
    assert summary == str(tmp_path / 'demo_summary.png')
    png = Image.open(summary)
    assert png.width > 800 and png.height > 500
    numbers = json.loads(png.text['mte_knn'])
    for kind, (b10, a10, b20, a20) in rows.items():
        assert [round(numbers[w][kind][k], 1) for w, k in [
            ('before', '10'), ('after', '10'), ('before', '20'),
            ('after', '20')]] == [b10, a10, b20, a20], kind


def test_summary_bars_are_the_table():
    demo = _demo_module()
    before = {'global': {10: 51.46, 20: 53.5}, 'aux_0': {10: 40.0, 20: 38.25}}
    after = {'global': {10: 64.6, 20: 62.14}, 'aux_0': {10: 60.7, 20: 59.0}}
    fig = demo.summary_figure(before, after)
    bar_axes = [ax for ax in fig.axes if ax.patches]
    assert [ax.get_ylabel() for ax in bar_axes] == [
        'kNN top-1 (%), k=10', 'kNN top-1 (%), k=20']
    for ax, k in zip(bar_axes, demo.KS):
        heights = [p.get_height() for p in ax.patches]
        expected = [round(t[n][k], 1) for t in (before, after)
                    for n in ('global', 'aux_0')]
        assert heights == expected
        labels = [t.get_text() for t in ax.texts]
        assert labels == [f'{v:.1f}' for v in expected]
        assert [t.get_text() for t in ax.get_xticklabels()] == \
            ['global', 'aux_0']
