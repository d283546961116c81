"""What is wrong with an image file, if anything: the one test shared by the
loading transform (:class:`CheckedLoadImageFromFile`) and
``tools/check_dataset.py``, so the tool lists exactly what training would
reject."""
from typing import Optional, Tuple

import mmcv
import numpy as np

JPEG_SOI, JPEG_SOS, JPEG_EOI = b'\xff\xd8', b'\xff\xda', b'\xff\xd9'


def jpeg_truncated(data: bytes) -> bool:
    """Whether a JPEG stream ends before its end-of-image marker.

    Whether a decoder refuses such a file depends on it (the OpenCV build
    here returns None; builds whose libjpeg fills the missing rows grey,
    and Pillow with ``LOAD_TRUNCATED_IMAGES``, decode it without an error),
    so this test reads the markers instead. Inside entropy-coded data a
    0xFF byte is always followed by 0x00 or a restart marker, so the last
    start-of-scan marker belongs to the main image (an EXIF thumbnail comes
    before it) and a complete file has an end-of-image marker after it;
    bytes after that marker (camera trailers) are allowed.
    """
    if not data.startswith(JPEG_SOI):
        return False
    last_scan = data.rfind(JPEG_SOS)
    return last_scan < 0 or data.find(JPEG_EOI, last_scan) < 0


def decode_image(data: bytes, flag: str = 'color', backend: str = 'cv2'
                 ) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """``(image, None)``, or ``(None, what is wrong)`` for an empty file, a
    truncated JPEG or bytes the decoder refuses.

    Args:
        data (bytes): The file's content.
        flag (str): ``mmcv.imfrombytes`` colour flag.
        backend (str): ``mmcv.imfrombytes`` backend.
    """
    if not data:
        return None, 'empty file'
    if jpeg_truncated(data):
        return None, 'truncated JPEG (no end-of-image marker)'
    try:
        img = mmcv.imfrombytes(data, flag=flag, backend=backend)
    except Exception as exc:  # the decoders raise many types
        return None, f'not decodable ({type(exc).__name__}: {exc})'
    if img is None or img.size == 0:
        return None, 'not decodable as an image'
    return img, None
