"""Image loading that names an unreadable file, or skips it."""
import logging
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log

from ...registry import TRANSFORMS
from ..image_check import decode_image

POLICIES = ('raise', 'skip')


class UnreadableImageError(OSError):
    """An image file that cannot be decoded; the message names it."""


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` that says which file is at fault and
    why, and rejects truncated JPEGs whichever decoder is used (some decode
    them without an error, see :func:`~mte_mm.datasets.jpeg_truncated`).

    * ``on_unreadable='raise'`` (default): :class:`UnreadableImageError`
      naming the file and the problem (mmcv raises a bare
      ``AssertionError`` from deep inside the data loader).
    * ``on_unreadable='skip'``: log the file and return None; mmengine's
      ``BaseDataset`` then loads another, randomly drawn sample in its
      place, so the epoch keeps its length. The count of skipped files is
      per process (each data-loader worker logs its own).

    ``tools/check_dataset.py`` applies the same test to a whole folder.

    Args:
        on_unreadable (str): ``'raise'`` or ``'skip'``.
        **kwargs: ``LoadImageFromFile``'s arguments.
    """

    def __init__(self, on_unreadable: str = 'raise', **kwargs):
        if on_unreadable not in POLICIES:
            raise ValueError('CheckedLoadImageFromFile: on_unreadable='
                             f'{on_unreadable!r}; choose from {POLICIES}')
        super().__init__(**kwargs)
        self.on_unreadable = on_unreadable
        self.skipped = 0

    def _read(self, filename: str) -> bytes:
        if self.file_client_args is not None:
            client = fileio.FileClient.infer_client(self.file_client_args,
                                                    filename)
            return client.get(filename)
        return fileio.get(filename, backend_args=self.backend_args)

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            data = self._read(filename)
        except Exception as exc:  # missing file, permissions, backend
            img, problem = None, f'cannot be read ({type(exc).__name__}: ' \
                f'{exc})'
        else:
            img, problem = decode_image(data, self.color_type,
                                        self.imdecode_backend)
        if problem is not None:
            return self._reject(filename, problem)
        if self.to_float32:
            img = img.astype('float32')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _reject(self, filename: str, problem: str) -> None:
        """Apply the ``on_unreadable`` policy to a file that failed."""
        if self.on_unreadable == 'skip' or self.ignore_empty:
            self.skipped += 1
            print_log(f'skipped unreadable image {filename}: {problem} '
                      f'({self.skipped} skipped in this process)',
                      logger='current', level=logging.WARNING)
            return None
        raise UnreadableImageError(
            f'unreadable image {filename}: {problem}. List every such '
            'file with `python tools/check_dataset.py FOLDER`, or load '
            f"with dict(type='{type(self).__name__}', "
            "on_unreadable='skip') to skip them")

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(on_unreadable={self.on_unreadable!r}'
                f', {super().__repr__().split("(", 1)[1]}')
