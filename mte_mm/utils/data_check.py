"""One-line errors for a missing or empty data root, raised by the tools from
the config alone, before any process builds a model or a dataset (mmengine
would otherwise fail deep inside the first dataset build, once per rank,
after its environment dump)."""
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif',
                    '.tiff', '.webp')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class DataRootError(FileNotFoundError):
    """A dataset's files are not where its config says; the message names
    the path, the config key to change and the expected layout."""


def _datasets(node, key: str) -> Iterator[Tuple[str, dict]]:
    """``(dotted key, dataset config)`` of a dataset config and of the
    datasets it wraps (``dataset`` / ``datasets``)."""
    if not isinstance(node, dict):
        return
    if 'dataset' in node:
        yield from _datasets(node['dataset'], key + '.dataset')
    if isinstance(node.get('datasets'), (list, tuple)):
        for i, sub in enumerate(node['datasets']):
            yield from _datasets(sub, f'{key}.datasets.{i}')
    if 'data_root' in node or 'ann_file' in node or 'data_prefix' in node:
        yield key, node


def _prefixes(data_prefix) -> List[str]:
    if isinstance(data_prefix, str):
        return [data_prefix] if data_prefix else []
    if isinstance(data_prefix, dict):
        return [v for v in data_prefix.values() if isinstance(v, str) and v]
    return []


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def _has_image(folder: str) -> bool:
    for _, _, names in os.walk(folder, followlinks=True):
        if any(n.lower().endswith(IMAGE_EXTENSIONS) for n in names):
            return True
    return False


def _layout(cfg: dict, root: str, prefixes: List[str]) -> str:
    ann = cfg.get('ann_file') or ''
    if ann:
        return (f'{_join(root, ann)} and the images under '
                f'{", ".join(_join(root, p) for p in prefixes) or root}')
    folder = _join(root, prefixes[0]) if prefixes else root
    return f'{folder}/<class>/<image>'


def check_dataset_config(cfg: dict, key: str) -> None:
    """Raise :class:`DataRootError` if the files one dataset config names
    are missing (its ``data_root``, ``ann_file``, ``data_prefix`` folders)
    or, for a folder dataset without an annotation file, hold no image.

    Args:
        cfg (dict): A dataset config.
        key (str): Its dotted key in the run config, for the message.
    """
    root = cfg.get('data_root') or ''
    prefixes = _prefixes(cfg.get('data_prefix'))
    fix = f'set {key}.data_root (e.g. --cfg-options {key}.data_root=PATH)'
    expected = _layout(cfg, root, prefixes)
    if root and not osp.isdir(root):
        raise DataRootError(f'{key}: data root {root!r} does not exist; '
                            f'{fix}. Expected {expected}')
    ann = cfg.get('ann_file') or ''
    if ann and not osp.isfile(_join(root, ann)):
        raise DataRootError(f'{key}: annotation file {_join(root, ann)!r} '
                            f'does not exist; {fix} or {key}.ann_file. '
                            f'Expected {expected}')
    for prefix in prefixes:
        folder = _join(root, prefix)
        if not osp.isdir(folder):
            raise DataRootError(f'{key}: folder {folder!r} does not exist; '
                                f'{fix} or {key}.data_prefix. Expected '
                                f'{expected}')
    if not ann and (root or prefixes):
        folders = [_join(root, p) for p in prefixes] or [root]
        for folder in folders:
            if not _has_image(folder):
                raise DataRootError(f'{key}: no image files under {folder!r}'
                                    f'; {fix}. Expected {expected}')


def check_knn_root(data_root: str, key: str) -> None:
    """Raise :class:`DataRootError` unless ``data_root`` has
    ``train/<class>/<image>`` and ``val/<class>/<image>`` files (kNN)."""
    for split in ('train', 'val'):
        folder = osp.join(data_root, split)
        if not osp.isdir(folder) or not _has_image(folder):
            raise DataRootError(
                f'{key}: {"no image files under" if osp.isdir(folder) else "no folder"} '
                f'{folder!r}; set {key}. Expected {data_root}/train/<class>/'
                f'<image> and {data_root}/val/<class>/<image>')


def check_data_roots(cfg, loaders: Optional[Tuple[str, ...]] = None) -> None:
    """Check every dataset of the run's data loaders
    (:func:`check_dataset_config`; a loader set to None is skipped) and the
    folder of every ``KNNEvalHook`` in ``custom_hooks``.

    Args:
        cfg (Config | dict): The run config.
        loaders (tuple[str], optional): Loader keys to check. Defaults to
            train, val and test.
    """
    for loader in loaders or LOADERS:
        loader_cfg = cfg.get(loader)
        if not isinstance(loader_cfg, dict):
            continue
        for key, dataset in _datasets(loader_cfg.get('dataset'),
                                      f'{loader}.dataset'):
            check_dataset_config(dataset, key)
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if isinstance(hook, dict) and str(hook.get('type', '')).endswith(
                'KNNEvalHook') and hook.get('data_root'):
            check_knn_root(hook['data_root'], f'custom_hooks.{i}.data_root')
