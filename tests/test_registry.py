"""`import mte_mm` registers our modules; a config's custom_imports is enough."""
import subprocess
import sys

from .conftest import REPO


def test_custom_imports_config_builds_registered_module(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['mte_mm'], allow_failed_imports=False)\n"
        "dataset = dict(type='DigitsDataset', split='test', image_size=16,\n"
        "               pipeline=[dict(type='PackInputs')])\n")
    code = f"""
from mmengine.config import Config
from mmpretrain.registry import DATASETS
cfg = Config.fromfile({str(cfg)!r})
ds = DATASETS.build(cfg.dataset)
print(type(ds).__module__, len(ds), ds[0]['inputs'].shape)
"""
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [
        'mte_mm.datasets.digits', '359', 'torch.Size([3,', '16,', '16])']
