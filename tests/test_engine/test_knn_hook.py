"""KNNEvalHook in a real 2-epoch run; tools/knn_eval.py on its checkpoint,
single- and 2-process."""
import json

import pytest

from ..conftest import REPO, TINY_MTE_ARCH, free_port, run_tool


@pytest.fixture(scope='module')
def hooked_run(labelled_folder, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('knn_hook_run')
    cfg = work_dir / 'cfg.py'
    cfg.write_text(
        f"_base_ = ['{REPO}/configs/mte_dino_vits.py']\n"
        "custom_hooks = [dict(type='KNNEvalHook', data_root="
        f"'{labelled_folder}', interval=1, ks=(3, ), resize=64, crop=64,"
        " with_aux=True)]\n")
    proc = run_tool([
        'tools/train.py', cfg, '--work-dir', work_dir, '--cfg-options',
        *TINY_MTE_ARCH, f'train_dataloader.dataset.data_root={labelled_folder}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.pin_memory=False', 'train_cfg.max_epochs=2',
        'default_hooks.logger.interval=1'])
    return work_dir, proc.stdout + proc.stderr


def test_hook_logs_knn_every_epoch(hooked_run):
    work_dir, log = hooked_run
    assert log.count('kNN top-1: knn/global_top1_k3') == 2
    scalars = [json.loads(line) for line in
               next(work_dir.glob('*/vis_data/scalars.json')).read_text()
               .splitlines()]
    values = [r['knn/global_top1_k3'] for r in scalars
              if 'knn/global_top1_k3' in r]
    # top-1 over the 8 val images: a whole number of them
    assert len(values) == 2 and all(v / 12.5 == round(v / 12.5)
                                    for v in values)
    assert any('knn/ensemble_top1_k3' in r for r in scalars)


def bank_bytes(stdout):
    """``{rank: bank bytes}`` from knn_eval.py's memory lines."""
    import re
    return {int(rank): int(size) for rank, size in re.findall(
        r'kNN memory, process (\d+) of \d+: bank (\d+) bytes', stdout)}


def test_knn_eval_tool_single_and_two_processes(hooked_run, labelled_folder,
                                                tmp_path):
    work_dir, _ = hooked_run
    ckpt = work_dir / 'epoch_2.pth'
    common = [f'{work_dir}/cfg.py', ckpt, '--data-root', labelled_folder,
              '--ks', '3', '5', '--resize', '64', '--crop', '64',
              '--num-workers', '0', '--cfg-options', *TINY_MTE_ARCH]
    # float16 bank: exactly independent of the number of processes
    half = ['--bank-dtype', 'float16']
    proc = run_tool(['tools/knn_eval.py', *common, *half, '--out',
                     tmp_path / 'one.json'])
    bank_one = bank_bytes(proc.stdout)
    one = json.loads((tmp_path / 'one.json').read_text())
    assert set(one) == {'global', 'pooled', 'ensemble'} | {
        f'aux_{i}' for i in range(4)} | {f'pooled_{i}' for i in range(4)}
    assert set(one['global']) == {'3', '5'}
    # dark vs bright noise is told apart by any sensible feature
    assert one['global']['3'] >= 75.0
    proc = run_tool(['python', '-m', 'torch.distributed.run',
                     '--nproc_per_node', '2', '--master_port',
                     str(free_port()), 'tools/knn_eval.py', *common, *half,
                     '--launcher', 'pytorch', '--out', tmp_path / 'two.json'])
    two = json.loads((tmp_path / 'two.json').read_text())
    # the sharded bank gives exactly the single-process result
    assert two == one
    # ... with half the bank per process (12 train images: 6 + 6), float16
    kinds, dims = len(one), 32
    assert bank_one == {0: kinds * 12 * dims * 2}
    assert bank_bytes(proc.stdout) == {0: kinds * 6 * dims * 2,
                                       1: kinds * 6 * dims * 2}


def test_knn_eval_tool_with_dataset_configs(hooked_run, labelled_folder,
                                            tmp_path):
    """The memory bank and queries given as mmpretrain dataset configs."""
    work_dir, _ = hooked_run
    cfg = tmp_path / 'knn_cfg.py'
    pipeline = ("[dict(type='LoadImageFromFile'), dict(type='Resize', "
                "scale=64), dict(type='PackInputs')]")
    cfg.write_text(
        f"_base_ = ['{work_dir}/cfg.py']\n"
        f"knn_train_dataset = dict(type='CustomDataset', data_root="
        f"'{labelled_folder}', data_prefix='train', pipeline={pipeline})\n"
        f"knn_val_dataset = dict(type='CustomDataset', data_root="
        f"'{labelled_folder}', data_prefix='val', pipeline={pipeline})\n")
    run_tool(['tools/knn_eval.py', cfg, work_dir / 'epoch_2.pth', '--tokens',
              'global', '--ks', '3', '--num-workers', '0', '--out',
              tmp_path / 'k.json', '--cfg-options', *TINY_MTE_ARCH])
    result = json.loads((tmp_path / 'k.json').read_text())
    # the hook's evaluation of the same weights at epoch 2 (float32 bank,
    # 64 px images resized and cropped to 64: the same tensors)
    scalars = [json.loads(line) for line in
               next(work_dir.glob('*/vis_data/scalars.json')).read_text()
               .splitlines()]
    hooked = [r['knn/global_top1_k3'] for r in scalars
              if 'knn/global_top1_k3' in r][-1]
    assert set(result) == {'global'} and result['global']['3'] == hooked
