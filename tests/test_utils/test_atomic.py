"""mte_mm.utils.atomic: the one all-or-nothing write helper."""
import ast
import json
from pathlib import Path

import pytest
import torch

from mte_mm.utils.atomic import (atomic_folder, atomic_json, atomic_path,
                                 atomic_torch_save, atomic_write)

from ..conftest import REPO


def test_writes_replace_the_file_and_leave_no_temporary(tmp_path):
    target = tmp_path / 'sub' / 'out.json'  # the folder is made
    atomic_json(target, {'a': 1})
    assert json.loads(target.read_text()) == {'a': 1}
    atomic_write(target, b'\x00\x01')
    assert target.read_bytes() == b'\x00\x01'
    atomic_torch_save({'w': torch.arange(3)}, tmp_path / 'c.pth')
    assert torch.equal(torch.load(tmp_path / 'c.pth')['w'], torch.arange(3))
    assert sorted(p.name for p in tmp_path.rglob('*')) == [
        'c.pth', 'out.json', 'sub']


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / 'figure.png'
    target.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='killed'):
        with atomic_path(target) as tmp:
            assert tmp.endswith('.png')  # writers that go by the suffix
            with open(tmp, 'wb') as f:
                f.write(b'half')
            raise RuntimeError('killed mid-write')
    assert target.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['figure.png']


#: what moves a finished file or folder into place
MOVES = {('os', 'replace'), ('os', 'rename'), ('os', 'renames'),
         ('shutil', 'move')}


def file_moves(source: str) -> list:
    """Line numbers of the moves in ``source``: calls of :data:`MOVES` (also
    imported under any name), ``.rename`` on any object and ``.replace``
    with one argument (``Path.replace``; ``str.replace`` takes two)."""
    tree = ast.parse(source)
    imported = {alias.asname or alias.name
                for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names
                if (node.module, alias.name) in MOVES}
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in imported:
            lines.append(node.lineno)
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) \
                else None
            if (owner, func.attr) in MOVES or func.attr in ('rename',
                                                            'renames') or \
                    (func.attr == 'replace' and len(node.args) == 1
                     and not node.keywords):
                lines.append(node.lineno)
    return lines


def test_every_move_into_place_goes_through_the_helper():
    """No tool or module writes its own temporary-then-rename: every move
    of a finished file or folder is mte_mm/utils/atomic.py's."""
    offenders = {str(p.relative_to(REPO)): file_moves(p.read_text())
                 for folder in ('mte_mm', 'tools')
                 for p in (REPO / folder).rglob('*.py')
                 if p.name != 'atomic.py'}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_guard_sees_every_way_to_move_a_file():
    for planted in ('os.replace(a, b)', 'os.rename(a, b)',
                    'shutil.move(a, b)', 'Path(a).rename(b)',
                    'Path(a).replace(b)',
                    'from os import rename as mv\nmv(a, b)'):
        assert file_moves(planted), planted
    assert file_moves("name.replace('a', 'b')") == []  # str.replace


def test_atomic_folder_is_complete_or_absent(tmp_path):
    target = tmp_path / 'out'
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (Path(tmp) / 'a.txt').write_text('half')
            raise RuntimeError('killed')
    assert list(tmp_path.iterdir()) == []  # nothing, not even the temp
    with atomic_folder(target) as tmp:
        (Path(tmp) / 'a.txt').write_text('whole')
    assert (target / 'a.txt').read_text() == 'whole'
    assert list(tmp_path.iterdir()) == [target]
    # a second writer: refused, or dropped in favour of the first one's
    with pytest.raises(OSError):
        with atomic_folder(target) as tmp:
            (Path(tmp) / 'a.txt').write_text('second')
    with atomic_folder(target, keep_existing=True) as tmp:
        (Path(tmp) / 'a.txt').write_text('second')
    assert (target / 'a.txt').read_text() == 'whole'
    assert list(tmp_path.iterdir()) == [target]
