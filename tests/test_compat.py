"""Each compat shim is needed (the unshimmed path fails) and works."""
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from mmengine.runner import CheckpointLoader

import mte_mm  # noqa: F401
from mte_mm import compat

from .conftest import REPO, run_tool


def needs(shim):
    """Skip where the shim's breakage is absent (e.g. torch < 2.6 loads
    with ``weights_only=False`` itself; numpy 1 has no ``adjust_hue``
    overflow): there the shim is not applied, by design."""
    return pytest.mark.skipif(
        not compat.SHIMS[shim][0](),
        reason=f'{shim}: its breakage is absent on this stack')


#: the shims this stack needs (all four on the pinned stack)
NEEDED = sorted(name for name, (needed, _) in compat.SHIMS.items()
                if name != 'pkg_resources' and needed())


@needs('torch_load')
def test_runner_checkpoint_needs_weights_only_false(tiny_cls_run):
    ckpt = tiny_cls_run / 'iter_2.pth'
    assert ckpt.is_file()
    # What mmengine 0.10.7 does (torch.load without weights_only) fails on
    # torch >= 2.6 for a Runner checkpoint ...
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        torch.load(ckpt, map_location='cpu')
    # ... and the loader mte_mm registers reads it.
    loaded = CheckpointLoader.load_checkpoint(str(ckpt), map_location='cpu')
    assert loaded['meta']['iter'] == 2
    assert CheckpointLoader._get_checkpoint_loader(str(ckpt)) is \
        compat.load_from_local


def test_resume_through_train_tool(tiny_cls_run, tmp_path):
    ckpt = tiny_cls_run / 'iter_2.pth'
    proc = run_tool([
        'tools/train.py', 'configs/tiny/vit_tiny_digits_cls.py',
        '--work-dir', tmp_path, '--resume', ckpt,
        '--cfg-options', 'train_cfg.max_iters=3'])
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 2' in log
    resumed = torch.load(tmp_path / 'iter_3.pth', weights_only=False)
    assert resumed['meta']['iter'] == 3
    # only iteration 3 ran in this work dir
    assert not (tmp_path / 'iter_2.pth').exists()


@needs('torch_load')
def test_missing_checkpoint_is_named(tmp_path):
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        CheckpointLoader.load_checkpoint(str(missing))
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(b'not a checkpoint')
    with pytest.raises(RuntimeError, match='corrupt.pth'):
        CheckpointLoader.load_checkpoint(str(corrupt))


@pytest.mark.parametrize('version', ['2.2.0', '2.0.0rc1', '1.7.1', '2.2.1'])
def test_mmcv_version_outside_range_is_a_clear_error(version):
    with pytest.raises(ImportError, match=f'mmcv=={version} is installed'):
        compat.check_mmcv_version(version)


@pytest.mark.parametrize('version', ['2.0.0', '2.1.0'])
def test_mmcv_version_in_range(version):
    assert compat.check_mmcv_version(version) == version


def _run_without_pkg_resources(code: str) -> subprocess.CompletedProcess:
    """Run code in an interpreter where `import pkg_resources` fails, as with
    setuptools >= 82."""
    prelude = "import sys; sys.modules['pkg_resources'] = None\n"
    return subprocess.run(
        [sys.executable, '-c', prelude + textwrap.dedent(code)],
        capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.mark.transfer  # an mmdet:: base
def test_package_base_config_without_pkg_resources(tmp_path):
    cfg = tmp_path / 'uses_mmdet_base.py'
    cfg.write_text("_base_ = ['mmdet::_base_/default_runtime.py']\n")
    load = f"from mmengine.config import Config; " \
        f"c = Config.fromfile({str(cfg)!r}); print(c.default_scope)"
    unpatched = _run_without_pkg_resources(load)
    assert unpatched.returncode != 0
    assert 'pkg_resources' in unpatched.stderr
    patched = _run_without_pkg_resources('import mte_mm\n' + load)
    assert patched.returncode == 0, patched.stderr[-3000:]
    assert patched.stdout.strip().endswith('mmdet')


@pytest.mark.transfer  # the det / seg configs need mmdet / mmseg
def test_own_configs_load_without_pkg_resources():
    configs = sorted(str(p) for p in (REPO / 'configs').rglob('*.py'))
    # Without pkg_resources an `mmdet::`-style base fails to resolve (see
    # above), so loading every config there proves none needs it.
    proc = _run_without_pkg_resources(f"""
        from mmengine.config import Config
        for path in {configs!r}:
            Config.fromfile(path)
        print('loaded', len({configs!r}))
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'loaded {len(configs)}' in proc.stdout


def _hsv_hue(img_bgr):
    from PIL import Image
    return np.asarray(Image.fromarray(img_bgr[..., ::-1], mode='RGB').convert(
        'HSV'))[..., 0].astype(int)


@needs('adjust_hue')
@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
@pytest.mark.parametrize('factor', [0.0, 0.01, 0.2, 0.5])
def test_adjust_hue_equals_mmcv_for_non_negative_factors(backend, factor):
    import mmcv
    img = np.random.RandomState(0).randint(0, 256, (16, 16, 3), np.uint8)
    ours = mmcv.adjust_hue(img, factor, backend=backend)
    original = compat.MMCV_ORIGINALS['adjust_hue'](img, factor, backend=backend)
    np.testing.assert_array_equal(ours, original)


@pytest.mark.parametrize('factor', [-0.5, -0.3, -0.01])
def test_adjust_hue_rotates_backwards_for_negative_factors(factor):
    import mmcv
    img = np.random.RandomState(1).randint(0, 256, (16, 16, 3), np.uint8)
    out = mmcv.adjust_hue(img, factor, backend='pillow')
    # the hue channel moved by int(factor * 255) mod 256, as on numpy 1
    # (HSV -> RGB -> HSV rounding may move a hue by a few steps)
    expected = (_hsv_hue(img) + int(factor * 255)) % 256
    diff = np.abs(_hsv_hue(out) - expected)
    assert np.median(np.minimum(diff, 256 - diff)) <= 1
    # and rotating forward by the same amount undoes it (up to rounding)
    back = mmcv.adjust_hue(out, -factor, backend='pillow')
    assert np.median(np.abs(back.astype(int) - img)) <= 4


def test_unpatched_adjust_hue_fails_on_numpy2():
    if int(np.__version__.split('.')[0]) < 2:
        pytest.skip('numpy 1 wraps the negative shift itself')
    with pytest.raises(OverflowError):
        compat.MMCV_ORIGINALS['adjust_hue'](
            np.zeros((4, 4, 3), np.uint8), -0.1, backend='pillow')


# A disk that fills up during a save: the write limit (RLIMIT_FSIZE) makes
# the second, larger checkpoint fail with EFBIG after 4 KiB.
_SAVE_ON_FULL_DISK = '''
import resource, signal, sys
import torch
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
if sys.argv[2] == 'with_mte_mm':
    import mte_mm  # noqa: F401
from mmengine.runner.checkpoint import save_checkpoint
save_checkpoint({'w': torch.arange(10.)}, sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    save_checkpoint({'w': torch.zeros(100000)}, sys.argv[1])
except OSError as error:
    print('save failed:', error.errno)
'''


@pytest.mark.parametrize('mode', ['with_mte_mm', 'stock_mmengine'])
def test_interrupted_checkpoint_save_keeps_the_old_file(mode, tmp_path):
    import errno
    path = tmp_path / 'work' / 'epoch_1.pth'
    proc = subprocess.run(
        [sys.executable, '-c', _SAVE_ON_FULL_DISK, str(path), mode],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'save failed: {errno.EFBIG}' in proc.stdout
    if mode == 'stock_mmengine':  # what the shim prevents: a torn file
        assert path.stat().st_size == 4096
        with pytest.raises(Exception):
            torch.load(path, weights_only=False)
        return
    torch.testing.assert_close(torch.load(path, weights_only=False)['w'],
                               torch.arange(10.))
    assert sorted(p.name for p in path.parent.iterdir()) == ['epoch_1.pth']


def test_runner_writes_checkpoints_atomically(tiny_cls_run):
    from mmengine.fileio import get_file_backend

    from mte_mm.compat import AtomicLocalBackend
    assert isinstance(get_file_backend(str(tiny_cls_run / 'x.pth')),
                      AtomicLocalBackend)
    # the tool run left complete checkpoints and no temporary files
    assert not [p for p in tiny_cls_run.iterdir() if '.tmp.' in p.name]
    assert (tiny_cls_run / 'last_checkpoint').read_text().strip().endswith(
        'iter_2.pth')


# -- MTE_MM_DISABLE_SHIMS ---------------------------------------------------
_SHIM_STATE = """
import mmcv, mte_mm
from mmengine.fileio.backends import registry_utils
from mmengine.runner.checkpoint import CheckpointLoader
from mte_mm import compat
state = dict(
    torch_load=CheckpointLoader._get_checkpoint_loader('x.pth')
    is compat.load_from_local,
    adjust_hue=mmcv.adjust_hue is compat.adjust_hue,
    atomic_checkpoints=registry_utils.backends['local']
    is compat.AtomicLocalBackend)
print(sorted(k for k, v in state.items() if v))
"""


@pytest.mark.parametrize('disabled', [
    '', 'torch_load,adjust_hue', 'atomic_checkpoints', 'all'])
def test_disable_switch_turns_each_patch_off(disabled):
    # in force: what this stack needs (all three on the pinned stack), less
    # what is switched off
    off = set(compat.SHIMS) if disabled == 'all' else set(disabled.split(','))
    in_force = str([name for name in NEEDED if name not in off])
    env = dict(os.environ, MTE_MM_DISABLE_SHIMS=disabled)
    proc = subprocess.run([sys.executable, '-c', _SHIM_STATE], env=env,
                          capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == in_force


@pytest.mark.transfer  # an mmdet:: base
def test_disable_switch_turns_the_package_lookup_off(tmp_path):
    cfg = tmp_path / 'uses_mmdet_base.py'
    cfg.write_text("_base_ = ['mmdet::_base_/default_runtime.py']\n")
    code = ("import os; os.environ['MTE_MM_DISABLE_SHIMS'] = 'pkg_resources'"
            "\nimport mte_mm\nfrom mmengine.config import Config\n"
            f"Config.fromfile({str(cfg)!r})")
    proc = _run_without_pkg_resources(code)
    assert proc.returncode != 0
    assert 'pkg_resources' in proc.stderr


def test_disable_switch_names_an_unknown_shim():
    assert compat.disabled_shims(' torch_load , adjust_hue') == \
        {'torch_load', 'adjust_hue'}
    assert compat.disabled_shims('all') == set(compat.SHIMS)
    assert compat.disabled_shims('') == set()
    with pytest.raises(ValueError, match=r"MTE_MM_DISABLE_SHIMS='torch_lod'"
                       r".*unknown shim\(s\) \['torch_lod'\]"):
        compat.disabled_shims('torch_lod')


@pytest.mark.parametrize('package,version', [
    ('torch', '2.0.1+cu118'), ('mmengine', '0.9.1'), ('mmpretrain', '1.1.1')])
def test_versions_below_the_tested_minimum_are_one_line(package, version):
    from mte_mm.compat import MINIMUM_VERSIONS, check_minimum_versions
    found = dict(torch='2.1.2', mmengine='0.10.7', mmpretrain='1.2.0')
    check_minimum_versions(found)  # the classic stack passes
    found[package] = version
    with pytest.raises(ImportError) as info:
        check_minimum_versions(found)
    assert str(info.value) == (
        f'mte_mm needs {package}>={MINIMUM_VERSIONS[package]}, but '
        f'{package}=={version} is installed')

