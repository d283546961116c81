"""All-or-nothing file writes: every checkpoint, export, result and figure
we write goes through :func:`atomic_path`, so a reader sees the old file or
the complete new one, never a half-written one (a job killed mid-write, a
full disk)."""
import json
import os
import os.path as osp
from contextlib import contextmanager
from typing import Any, Iterator, Union

PathLike = Union[str, 'os.PathLike[str]']


@contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """A temporary path beside ``path`` (same folder and suffix, so writers
    that go by the extension keep working) to write to; when the block
    ends without an error the file is fsynced and ``os.replace``-d over
    ``path``, otherwise removed. Missing folders are made."""
    path = os.fspath(path)
    folder, name = osp.split(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, ext = osp.splitext(name)
    tmp = osp.join(folder, f'.{stem}.tmp.{os.getpid()}{ext}')
    try:
        yield tmp
        with open(tmp, 'rb') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_folder(path: PathLike, keep_existing: bool = False
                  ) -> Iterator[str]:
    """A temporary folder beside ``path`` to fill; when the block ends
    without an error it is renamed to ``path``, otherwise removed, so
    ``path`` is complete or absent.

    Args:
        path: The folder to write; must not exist yet.
        keep_existing (bool): If ``path`` appeared meanwhile (another
            writer of the same content finished first), keep it and drop
            this one instead of raising.
    """
    import shutil
    import uuid
    path = os.fspath(path)
    tmp = f'{osp.abspath(path)}.tmp.{uuid.uuid4().hex}'
    os.makedirs(tmp)
    try:
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError:
            if not (keep_existing and osp.isdir(path)):
                raise
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp)


def atomic_write(path: PathLike, data: Union[bytes, str],
                 encoding: str = 'utf-8') -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data.encode(encoding) if isinstance(data, str) else data)


def atomic_json(path: PathLike, obj: Any, indent: int = 2) -> None:
    """``json.dump`` ``obj`` to ``path`` atomically."""
    atomic_write(path, json.dumps(obj, indent=indent))


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically."""
    import torch
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
