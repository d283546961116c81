"""A newcomer's path: the README's quick-start commands, run in order as
written, on generated data at tiny sizes (the only changes: 1 process
instead of 8 GPUs, 1 epoch instead of 100, tiny widths through
``--cfg-options``). They must leave a checkpoint, a kNN table, an export
and a 2-iteration ADE20K transfer."""
import json
import re

import pytest

from .conftest import REPO, free_port, run_tool, tiny_mte_options
from .test_transfer.test_segmentation import ade_root  # noqa: F401
from .test_transfer.test_segmentation import tiny_options

# the ViT of test_segmentation's UperNet options (32 dims, 4 blocks, 16 px
# patches), so that the export loads there
TINY_PRETRAIN = tiny_mte_options(num_layers=4)


def quick_start_commands():
    readme = (REPO / 'README.md').read_text()
    section = readme.split('## Quick start', 1)[1]
    block = re.search(r'```bash\n(.*?)```', section, re.S).group(1)
    commands = [line.split(' #')[0].strip() for line in
                block.replace('\\\n', ' ').splitlines()]
    return [c for c in commands if c and not c.startswith(('#', 'source '))]


@pytest.mark.transfer  # step 4 is an mmseg UperNet
def test_readme_quick_start_runs_in_order(labelled_folder, ade_root,  # noqa
                                          tmp_path):
    commands = quick_start_commands()
    assert [c.split()[1] for c in commands] == [
        'tools/dist_train.sh', 'tools/knn_eval.py', 'tools/export_backbone.py',
        'tools/dist_train.sh']
    # a user's folder: the repo's tools and configs, their data in data/
    for name in ('tools', 'configs'):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'imagenet').symlink_to(labelled_folder)
    data = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            'train_dataloader.pin_memory=False']
    extra = [
        ['--cfg-options', *TINY_PRETRAIN, *data, 'train_cfg.max_epochs=1',
         'default_hooks.checkpoint.interval=1'],
        ['--num-workers', '0', '--cfg-options', *TINY_PRETRAIN],
        ['--cfg-options', *TINY_PRETRAIN],
        None,  # its --cfg-options is extended below
    ]
    outputs = []
    for command, more in zip(commands, extra):
        args = command.replace('epoch_100', 'epoch_1').split()
        if args[0] == 'bash':
            args[3] = '1'  # processes: 1 instead of 8 GPUs
        if more is None:
            checkpoint = args[-1].split('=', 1)[1]
            args += tiny_options(tmp_path / checkpoint, ade_root)
            args += ['--work-dir', 'work_dirs/upernet']
        else:
            args += more
        outputs.append(run_tool(args, cwd=tmp_path,
                                env={'PORT': str(free_port())}))
    # 1. the pretraining checkpoint
    assert (tmp_path / 'work_dirs/mte_dino_vits/epoch_1.pth').is_file()
    # 2. the kNN table of every token kind
    knn = json.loads((tmp_path / 'knn.json').read_text())
    assert set(knn) == {'global', 'pooled', 'ensemble'} | {
        f'aux_{i}' for i in range(4)} | {f'pooled_{i}' for i in range(4)}
    assert all(set(row) == {'10', '20', '100', '200'} for row in knn.values())
    # 3. the exports
    assert (tmp_path / 'exports/epoch_1_teacher_vit_mmpretrain.pth').is_file()
    assert (tmp_path / 'exports/epoch_1_teacher_vit_timm.pth').is_file()
    # 4. the transfer loaded the export, trained 2 iterations, validated
    seg = tmp_path / 'work_dirs/upernet'
    assert (seg / 'iter_2.pth').is_file()
    log = outputs[3].stdout + outputs[3].stderr
    assert 'Loads checkpoint by local backend from path: ' \
        f'{tmp_path}/exports/epoch_1_teacher_vit_mmpretrain.pth' in log
    scalars = next(seg.glob('2*/vis_data/scalars.json')).read_text()
    assert '"mIoU"' in scalars
