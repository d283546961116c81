"""Switch mmcv 2.1.0's ``setup.py`` from ``-std=c++17`` to ``-std=c++20``.

torch >= 2.14 headers use C++20 features; mmcv 2.1.0 hard-codes ``-std=c++17``
for its C++ ops (and for nvcc), so the unmodified sdist does not compile.
This is the only change we make to the sdist. It is idempotent and fails
loudly if the file does not look like mmcv 2.1.0's ``setup.py``.

Usage: python tools/misc/patch_mmcv_cxx_std.py path/to/mmcv-2.1.0/setup.py
"""
import sys
from pathlib import Path


def patch(setup_py: Path) -> int:
    text = setup_py.read_text()
    count = text.count("'-std=c++17'")
    if count == 0 and "'-std=c++20'" in text:
        return 0  # already patched
    if count == 0:
        raise SystemExit(f'{setup_py}: no "-std=c++17" flag found; '
                         'is this the mmcv 2.1.0 setup.py?')
    setup_py.write_text(text.replace("'-std=c++17'", "'-std=c++20'"))
    return count


if __name__ == '__main__':
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    n = patch(Path(sys.argv[1]))
    print(f'patched {n} occurrence(s) of -std=c++17 -> -std=c++20 in {sys.argv[1]}')
