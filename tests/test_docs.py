"""The README and docs/ cannot rot: every file they name exists, every flag
they pass to one of our tools is one that tool's ``--help`` lists, and every
table of measured numbers has the command that produced it beside it."""
import contextlib
import io
import itertools
import os
import re
import runpy
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from .conftest import REPO

DOCS = [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))
# paths in the text that name files of this repository
REPO_PATH = re.compile(
    r'(?<![\w/.~-])((?:configs|tools|mte_mm|tests|docs|requirements)/'
    r'[\w./{},*<>-]*[\w*}])')
MD_LINK = re.compile(r'\]\(([^)\s]+)\)')
TOOL = re.compile(r'(?<![\w/])((?:tools/)?(?:benchmarks/|misc/|'
                  r'analysis_tools/|model_converters/)?[\w]+\.(?:py|sh))\b')
FLAG = re.compile(r'(?<![\w-])(--[a-z][\w-]*)')
# a table cell that is a measurement: a number, maybe bold or signed
MEASURED_CELL = re.compile(r'^\**[-+]?\d+(\.\d+)?\s*(x|%|s|ms|min|MB|GB)?\b')
COMMAND = re.compile(
    r'(python |bash |results\.(md|json)|tools/(benchmarks|analysis_tools)/)')


def _expand(path):
    """``a/{x_,}b.py`` -> ``a/x_b.py``, ``a/b.py`` (shell brace expansion)."""
    parts = re.split(r'\{([^{}]*)\}', path)
    choices = [[p] if i % 2 == 0 else p.split(',')
               for i, p in enumerate(parts)]
    return [''.join(c) for c in itertools.product(*choices)]


def _named_paths(text):
    for match in REPO_PATH.finditer(text):
        path = match.group(1).rstrip('.')
        if '<' in path or path.endswith('/...'):
            continue  # a placeholder such as tools/<name>.py
        yield from _expand(path)


def _exists(path):
    if '*' in path:
        return any(REPO.glob(path))
    return (REPO / path).exists()


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: p.name)
def test_named_files_exist(doc):
    text = doc.read_text()
    missing = sorted({p for p in _named_paths(text) if not _exists(p)})
    assert not missing, f'{doc.relative_to(REPO)} names missing files: ' \
        f'{missing}'
    broken = []
    for target in MD_LINK.findall(text):
        if re.match(r'[a-z]+://', target) or target.startswith('#'):
            continue
        if not (doc.parent / target.split('#')[0]).exists():
            broken.append(target)
    assert not broken, f'{doc.relative_to(REPO)}: broken links {broken}'


def _commands(text):
    """Each shell command of the text's code blocks (continuation lines
    joined) and each inline code span."""
    for block in re.findall(r'```(?:bash|sh)?\n(.*?)```', text, re.S):
        for command in block.replace('\\\n', ' ').split('\n'):
            yield command.split(' #')[0]
    outside = re.sub(r'```.*?```', '', text, flags=re.S)
    yield from (s.replace("\n", " ") for s in re.findall(r"`([^`]+)`", outside))


def _tool_path(name):
    """A tool named in the docs -> its file, or None if it is not ours."""
    candidates = [REPO / name] if '/' in name else [
        REPO / 'tools' / folder / name for folder in
        ('', 'benchmarks', 'misc', 'analysis_tools', 'model_converters')]
    found = [c for c in candidates if c.is_file()]
    return found[0] if found else None


def _flags_passed(text):
    """{tool file: {flags}} for every command that runs one of our tools;
    the flags are those after the tool's name (``dist_train.sh`` and
    ``dist_test.sh`` pass theirs to ``train.py`` / ``test.py``)."""
    passed = {}
    for command in _commands(text):
        matches = list(TOOL.finditer(command))
        for i, match in enumerate(matches):
            tool = _tool_path(match.group(1))
            if tool is None:
                continue
            if tool.name in ('dist_train.sh', 'slurm_train.sh'):
                tool = REPO / 'tools/train.py'
            elif tool.name == 'dist_test.sh':
                tool = REPO / 'tools/test.py'
            elif tool.suffix != '.py':
                continue
            end = matches[i + 1].start() if i + 1 < len(matches) else None
            flags = FLAG.findall(command[match.end():end])
            passed.setdefault(tool, set()).update(flags)
    return passed


@lru_cache(maxsize=None)
def _help(tool):
    """What ``python TOOL --help`` prints (run in this interpreter)."""
    argv, path, environ = sys.argv, list(sys.path), dict(os.environ)
    out = io.StringIO()
    # as `python TOOL`: the tool's folder first on the path
    sys.argv, sys.path[:0] = [str(tool), '--help'], [str(tool.parent)]
    try:
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            runpy.run_path(str(tool), run_name='__main__')
    finally:
        sys.argv, sys.path[:] = argv, path
        os.environ.clear()
        os.environ.update(environ)
    return out.getvalue()


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: p.name)
def test_flags_are_accepted_by_their_tool(doc):
    unknown = []
    for tool, flags in sorted(_flags_passed(doc.read_text()).items()):
        if not flags:
            continue
        listed = set(FLAG.findall(_help(tool)))
        unknown += [f'{tool.relative_to(REPO)} {flag}'
                    for flag in sorted(flags - listed)]
    assert not unknown, f'{doc.relative_to(REPO)} passes flags the tools do ' \
        f'not list in --help: {unknown}'


def _measured_tables(text):
    """(line number, context before it) for each table with a measured
    number in its body; the context runs back to the previous heading."""
    lines = text.split('\n')
    in_code, heading, i = False, 0, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith('```'):
            in_code = not in_code
        elif not in_code and line.startswith('#'):
            heading = i
        elif not in_code and line.startswith('|'):
            start = i
            while i < len(lines) and lines[i].startswith('|'):
                i += 1
            body = lines[start + 2:i]
            cells = [c.strip() for row in body for c in row.split('|')[1:-1]]
            if any(MEASURED_CELL.match(c) for c in cells):
                yield start + 1, '\n'.join(lines[heading:start] +
                                           lines[i:i + 3])
            continue
        i += 1


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: p.name)
def test_measured_tables_name_their_command(doc):
    orphans = [line for line, context in _measured_tables(doc.read_text())
               if not COMMAND.search(context)]
    assert not orphans, f'{doc.relative_to(REPO)}: the tables at lines ' \
        f'{orphans} hold measured numbers but no command (python / bash / ' \
        'a results file) is given in their section'


def test_the_checks_catch_rot():
    text = ('`configs/mte_dino_vits.py` and `configs/no_such_config.py`; '
            '`configs/small/{mte_,}dino_small.py`\n'
            '```bash\npython tools/knn_eval.py C K --ks 20 \\\n'
            '    --no-such-flag 1\nbash tools/dist_train.sh C 8 --amp\n```\n'
            '| a | b |\n|---|---|\n| x | 1.5x |\n')
    assert [p for p in _named_paths(text) if not _exists(p)] == \
        ['configs/no_such_config.py']
    assert 'configs/small/dino_small.py' in list(_named_paths(text))
    passed = _flags_passed(text)
    assert passed[REPO / 'tools/knn_eval.py'] == {'--ks', '--no-such-flag'}
    assert passed[REPO / 'tools/train.py'] == {'--amp'}
    assert '--no-such-flag' not in _help(REPO / 'tools/knn_eval.py')
    assert '--ks' in _help(REPO / 'tools/knn_eval.py')
    tables = list(_measured_tables(text))
    assert len(tables) == 1 and COMMAND.search(tables[0][1])
    assert not list(_measured_tables('| a |\n|---|\n| text |\n'))
    assert not COMMAND.search(list(_measured_tables(
        '# x\nno command\n| a |\n|---|\n| 3.1 % |\n'))[0][1])
