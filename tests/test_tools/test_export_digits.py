"""tools/misc/export_digits.py: the demo's digits as an image folder, the
same split and pixels as DigitsDataset."""
import subprocess
import sys

import numpy as np
from PIL import Image

from mte_mm.datasets import DigitsDataset

from ..conftest import REPO, run_tool


def test_folder_holds_the_datasets_images(tmp_path):
    out = tmp_path / 'digits'
    proc = run_tool(['tools/misc/export_digits.py', out])
    assert proc.stdout.strip().endswith(f'1438 train / 359 val digits of 16 '
                                        f'px -> {out}')
    for folder, split in (('train', 'train'), ('val', 'test')):
        dataset = DigitsDataset(split=split, image_size=16)
        files = sorted(out.glob(f'{folder}/*/*.png'))
        assert len(files) == len(dataset)
        for path in files[::97]:
            info = dataset.get_data_info(int(path.stem))
            assert path.parent.name == str(info['gt_label'])
            assert np.array_equal(np.asarray(Image.open(path)), info['img'])
    # an existing folder is refused before anything is written
    proc = subprocess.run([sys.executable, 'tools/misc/export_digits.py',
                           str(out)], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and f'{out} exists' in proc.stderr
