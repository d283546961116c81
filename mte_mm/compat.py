"""Compatibility shims between the unmaintained OpenMMLab 2.x stack and current
torch / setuptools. Applied once, on ``import mte_mm``; each is idempotent and
tested in ``tests/test_compat.py`` by a test that fails without it.

1. ``torch.load`` without ``weights_only`` (mmengine <= 0.10.7): torch >= 2.6
   defaults to ``weights_only=True``, which refuses the pickled Python objects
   (message hub, numpy scalars, ...) that a Runner stores in its checkpoints,
   so ``--resume`` and ``load_from`` fail with ``UnpicklingError``. We
   re-register mmengine's local-file checkpoint loader with
   ``weights_only=False``, i.e. the behaviour mmengine was written for. As with
   any pickle, only load checkpoints you trust.
2. mmcv version: mmdet 3.3 / mmseg 1.2.2 assert ``mmcv < 2.2.0`` with a bare
   ``AssertionError`` deep inside their import. :func:`check_mmcv_version`
   says which mmcv is installed, what is supported and how to get it.
3. ``pkg_resources`` (gone in setuptools >= 82): mmengine's ``Config`` resolves
   ``mmdet::``/``mmseg::`` base configs with ``pkg_resources``. Our own configs
   never use such references; for user configs that do, the lookup is
   replaced by an ``importlib.metadata`` equivalent when ``pkg_resources``
   cannot be imported (it only takes effect once ``mte_mm`` is imported, e.g.
   by our ``tools/train.py``).
4. numpy >= 2 and ``mmcv.adjust_hue`` (mmcv 2.1.0): it shifts the hue with
   ``np.uint8(hue_factor * 255)``, which numpy 2 refuses for a negative
   factor (``OverflowError``), so mmpretrain's ``ColorJitter`` (``hue > 0``)
   crashes about half the time. :func:`adjust_hue` applies the same modular
   uint8 hue rotation that numpy 1 produced.
5. Checkpoints written in place (mmengine <= 0.10.7): ``save_checkpoint`` and
   ``CheckpointHook`` write through the ``local`` file backend, which opens
   the final path and writes into it, so a job killed or out of disk space
   mid-save leaves a truncated ``epoch_N.pth`` (and ``last_checkpoint``
   pointing at nothing usable). :class:`AtomicLocalBackend` writes a
   temporary file in the same folder, fsyncs it and ``os.replace``-s it over
   the target: readers see the old file or the complete new one.

Each patch applies only where its breakage exists (the versions named in
:data:`SHIMS`) and can be turned off before the import with the environment
variable ``MTE_MM_DISABLE_SHIMS``: a comma-separated list of the names in
:data:`SHIMS`, or ``all``. ``check_mmcv_version`` only raises and is always
on. Two more adjustments live in our tools and touch nothing at import time:
``tools/train.py`` runs mmengine's CUDA-only ``pytorch`` launcher on gloo
and swaps ``SyncBN`` for ``mte_mm.CPUSyncBN`` when there is no GPU
(:mod:`mte_mm.utils.dist`).
"""
import importlib.util
import os
import os.path as osp
from importlib import metadata
from pathlib import Path
from typing import Tuple, Union

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend

MMCV_MIN = '2.0.0rc4'
# mmcv functions replaced by a shim, kept for tests and comparison.
MMCV_ORIGINALS = {}
MMCV_MAX_EXCLUSIVE = '2.2.0'


def _version_tuple(version: str) -> Tuple:
    from mmengine.utils import digit_version
    return digit_version(version)


def check_mmcv_version(version: str = None) -> str:
    """Raise a clear ``ImportError`` if mmcv is outside what mmdet/mmseg accept.

    Args:
        version (str, optional): The mmcv version to check. Defaults to the
            installed ``mmcv.__version__``.

    Returns:
        str: The version checked.
    """
    if version is None:
        import mmcv
        version = mmcv.__version__
    if not (_version_tuple(MMCV_MIN) <= _version_tuple(version) <
            _version_tuple(MMCV_MAX_EXCLUSIVE)):
        raise ImportError(
            f'mte_mm needs mmcv>={MMCV_MIN},<{MMCV_MAX_EXCLUSIVE} (mmdet 3.3 '
            f'and mmseg 1.2.2 refuse newer), but mmcv=={version} is '
            'installed. Run `bash tools/setup_env.sh`, which compiles and '
            'installs mmcv 2.1.0 for your torch, or `pip install '
            '"mmcv==2.1.0"` from a source matching your torch/CUDA.')
    return version


#: the lowest versions the suite passes on (docs/installation.md): torch 2.1
#: with the mmcv 2.1 CUDA wheels OpenMMLab ships for it, or mmcv-lite
MINIMUM_VERSIONS = {'torch': '2.1.0', 'mmengine': '0.10.0',
                    'mmpretrain': '1.2.0'}


def check_minimum_versions(found: dict = None) -> None:
    """Raise an ``ImportError`` of one line for a package older than
    :data:`MINIMUM_VERSIONS`, naming the version found and the one needed.

    Args:
        found (dict, optional): package -> version. Defaults to the
            installed versions.
    """
    if found is None:
        import mmengine
        import mmpretrain
        found = dict(torch=torch.__version__, mmengine=mmengine.__version__,
                     mmpretrain=mmpretrain.__version__)
    for package, needed in MINIMUM_VERSIONS.items():
        version = found[package]
        if _version_tuple(version.split('+')[0]) < _version_tuple(needed):
            raise ImportError(f'mte_mm needs {package}>={needed}, but '
                              f'{package}=={version} is installed')


def load_from_local(filename: str, map_location=None):
    """mmengine's local checkpoint loader with ``weights_only=False``.

    Same contract as ``mmengine.runner.checkpoint.load_from_local`` (the name
    is kept because mmengine logs ``name[10:]`` as the backend).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise RuntimeError(
            f'cannot read checkpoint {filename!r}: {type(exc).__name__}: '
            f'{exc}') from exc


def patch_checkpoint_loader() -> None:
    """Make mmengine load local checkpoints as it did before torch 2.6."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)


def _pkg_resources_available() -> bool:
    # find_spec, not import: importing pkg_resources is slow and warns.
    try:
        return importlib.util.find_spec('pkg_resources') is not None
    except (ImportError, ValueError):
        return False


def _distribution(package: str):
    try:
        return metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return None


def is_installed(package: str) -> bool:
    """``mmengine.utils.is_installed`` without ``pkg_resources``."""
    if _distribution(package) is not None:
        return True
    spec = importlib.util.find_spec(package)
    return spec is not None and spec.origin is not None


def get_installed_path(package: str) -> str:
    """``mmengine.utils.get_installed_path`` without ``pkg_resources``.

    Resolves the import directory of a distribution (``mmsegmentation`` ->
    ``.../site-packages/mmseg``) or of a module name.
    """
    dist = _distribution(package)
    top_level = (dist.read_text('top_level.txt') or '').split() if dist else []
    for module in [package.replace('-', '_')] + top_level:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin is not None:
            return osp.dirname(spec.origin)
    raise ModuleNotFoundError(
        f'cannot find the installed path of {package!r} (needed for a '
        f'"{package}::" base config)')


def patch_config_package_lookup(force: bool = False) -> bool:
    """Let ``Config`` resolve ``pkg::`` bases without ``pkg_resources``.

    Args:
        force (bool): Patch even if ``pkg_resources`` is importable.

    Returns:
        bool: Whether the lookup was patched.
    """
    if not force and _pkg_resources_available():
        return False
    import mmengine.config.config as config_module
    config_module.get_installed_path = get_installed_path
    config_module.is_installed = is_installed
    return True


def adjust_hue(img: np.ndarray, hue_factor: float, backend=None) -> np.ndarray:
    """``mmcv.adjust_hue`` that works with numpy >= 2 (same contract).

    The hue channel (uint8, full circle = 256) is rotated by
    ``int(hue_factor * 255) mod 256``, as mmcv's uint8 addition did on
    numpy 1.
    """
    import cv2
    from mmcv.image import photometric
    from PIL import Image
    backend = backend or photometric.imread_backend
    if backend not in ('cv2', 'pillow'):
        raise ValueError(f'backend: {backend} is not supported. '
                         "Supported backends are 'cv2', 'pillow'")
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    shift = int(hue_factor * 255) % 256

    def rotate(hue: np.ndarray) -> np.ndarray:
        return ((hue.astype(np.int16) + shift) % 256).astype(np.uint8)

    if backend == 'pillow':
        if img.dtype != np.uint8:
            raise TypeError('Pillow backend only supports uint8 images')
        h, s, v = Image.fromarray(img[..., ::-1], mode='RGB').convert(
            'HSV').split()
        h = Image.fromarray(rotate(np.asarray(h)), 'L')
        rgb = Image.merge('HSV', (h, s, v)).convert('RGB')
        return np.array(rgb, dtype=img.dtype)[..., ::-1]
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    hsv[..., 0] = rotate(hsv[..., 0])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(img.dtype)


def patch_adjust_hue() -> bool:
    """Install :func:`adjust_hue` into mmcv on numpy >= 2.

    Returns:
        bool: Whether mmcv was patched.
    """
    if int(np.__version__.split('.')[0]) < 2:
        return False
    import mmcv
    from mmcv.image import photometric
    if photometric.adjust_hue is not adjust_hue:
        MMCV_ORIGINALS['adjust_hue'] = photometric.adjust_hue
    mmcv.adjust_hue = mmcv.image.adjust_hue = photometric.adjust_hue = \
        adjust_hue
    return True


def _atomic_write(data: Union[bytes, str], filepath: Union[str, Path],
                  encoding: str = 'utf-8') -> None:
    # imported here: this module is imported before the rest of the package
    from .utils.atomic import atomic_write
    atomic_write(filepath, data, encoding)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with all-or-nothing ``put`` and
    ``put_text`` (shim 5 in this module's docstring)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        _atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        _atomic_write(obj, filepath, encoding)


def patch_local_backend() -> bool:
    """Make mmengine's ``local`` file backend write atomically.

    Returns:
        bool: False if it was already patched.
    """
    from mmengine.fileio import io as mmengine_io
    from mmengine.fileio.backends import registry_utils
    if registry_utils.backends['local'] is AtomicLocalBackend:
        return False
    registry_utils.register_backend('local', AtomicLocalBackend, force=True,
                                    prefixes='')
    # drop local backends created before the patch (get_file_backend caches)
    for key in [k for k, v in mmengine_io.backend_instances.items()
                if type(v).__name__ == 'LocalBackend']:
        del mmengine_io.backend_instances[key]
    return True


def _mmengine_at_most_0_10_7() -> bool:
    import mmengine
    return _version_tuple(mmengine.__version__) <= _version_tuple('0.10.7')


def _torch_load_defaults_to_weights_only() -> bool:
    return _version_tuple(torch.__version__.split('+')[0]) >= \
        _version_tuple('2.6.0')


def _mmcv_before_2_2() -> bool:
    import mmcv
    return _version_tuple(mmcv.__version__) < _version_tuple('2.2.0')


# name -> (where the breakage exists, the patch). The names are what
# MTE_MM_DISABLE_SHIMS takes.
SHIMS = {
    'torch_load': (lambda: _mmengine_at_most_0_10_7() and
                   _torch_load_defaults_to_weights_only(),
                   patch_checkpoint_loader),
    'pkg_resources': (lambda: True,  # patches only without pkg_resources
                      patch_config_package_lookup),
    'adjust_hue': (lambda: int(np.__version__.split('.')[0]) >= 2 and
                   _mmcv_before_2_2(), patch_adjust_hue),
    'atomic_checkpoints': (_mmengine_at_most_0_10_7, patch_local_backend),
}
DISABLE_ENV = 'MTE_MM_DISABLE_SHIMS'


def disabled_shims(value: str = None) -> set:
    """The shim names that ``MTE_MM_DISABLE_SHIMS`` turns off.

    Args:
        value (str, optional): The variable's value. Defaults to the
            environment's.

    Raises:
        ValueError: For a name that is not in :data:`SHIMS`.
    """
    if value is None:
        value = os.environ.get(DISABLE_ENV, '')
    names = {name.strip() for name in value.split(',') if name.strip()}
    if 'all' in names:
        return set(SHIMS)
    unknown = sorted(names - set(SHIMS))
    if unknown:
        raise ValueError(
            f'{DISABLE_ENV}={value!r}: unknown shim(s) {unknown}; the names '
            f'are {sorted(SHIMS)} or "all"')
    return names


def apply_all() -> dict:
    """Apply every shim whose breakage is present and that
    ``MTE_MM_DISABLE_SHIMS`` does not turn off (called by ``import
    mte_mm``).

    Returns:
        dict: name -> whether that shim is in force.
    """
    check_minimum_versions()
    check_mmcv_version()
    off = disabled_shims()
    active = {}
    for name, (needed, patch) in SHIMS.items():
        active[name] = name not in off and needed()
        if active[name]:
            patch()
    return active
