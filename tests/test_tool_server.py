"""The tests' pre-imported tool server (tests/helpers/tool_server.py): a
child forked from it behaves as ``python TOOL ARGS`` in a fresh interpreter
would, and it serves only the tools it can stand for."""
import json
import os
import subprocess
import sys
import time

import pytest

from .helpers.tool_server import REPO, ToolServer, imports_mte_mm, tool_env

PROBE = '''
import atexit, json, os, sys, tempfile, time
import numpy as np
import mte_mm  # noqa: F401
from mmpretrain.registry import MODELS
atexit.register(lambda: print('atexit ran', end=''))
print(json.dumps(dict(
    argv=sys.argv, cwd=os.getcwd(), x=os.environ.get('X'),
    path=sys.path[:3], tmp=tempfile.gettempdir(), name=__name__,
    registered='MTEDINO' in MODELS.module_dict,
    stdin=sys.stdin.read())))
sys.stdout.flush()
print(np.random.randint(10 ** 9), file=sys.stderr)
mode = sys.argv[1]
if mode == 'exit3':
    sys.exit(3)
if mode == 'raise':
    raise ValueError('planted')
if mode == 'sleep':
    import subprocess
    child = subprocess.Popen(['sleep', '60'])
    open(sys.argv[2], 'w').write(str(child.pid))
    time.sleep(60)
'''


def alive(pid):
    """Whether ``pid`` runs (a killed orphan may stay a zombie a while,
    until its new parent reaps it)."""
    try:
        with open(f'/proc/{pid}/stat') as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp('tools')
    (root / 'probe.py').write_text(PROBE)
    server = ToolServer(tool_env(), roots=[root])
    yield server, root
    server.close()


def test_a_served_tool_runs_as_in_a_fresh_interpreter(server, tmp_path):
    server, root = server
    probe = root / 'probe.py'
    # the repo is on the server's path already, after site-packages (the
    # editable install): PYTHONPATH puts it first all the same
    env = tool_env({'X': 'value', 'TMPDIR': str(tmp_path), 'PYTHONPATH':
                    os.pathsep.join([str(tmp_path / 'extra'), str(REPO)])})
    served = server.run([probe, 'ok'], tmp_path, env, timeout=120)
    again = server.run([probe, 'ok'], tmp_path, env, timeout=120)
    fresh = subprocess.run([sys.executable, str(probe), 'ok'], cwd=tmp_path,
                           env=env, capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
    assert served.returncode == fresh.returncode == 0, served.stderr
    assert served.stdout == fresh.stdout  # argv, cwd, env, sys.path[0], ...
    report = json.loads(served.stdout[:-len('atexit ran')])
    assert report['tmp'] == str(tmp_path) and report['x'] == 'value'
    assert report['path'] == [str(root), str(tmp_path / 'extra'), str(REPO)]
    assert report['name'] == '__main__' and report['registered']
    assert served.stdout.endswith('atexit ran')
    # fresh seeds in every child, as in every fresh interpreter
    assert served.stderr.strip() != again.stderr.strip()


def test_exit_codes_tracebacks_and_timeouts(server, tmp_path):
    server, root = server
    probe, env = root / 'probe.py', tool_env()
    assert server.run([probe, 'exit3'], tmp_path, env, 120).returncode == 3
    failed = server.run([probe, 'raise'], tmp_path, env, 120)
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1] == 'ValueError: planted'
    pid_file = tmp_path / 'sleep.pid'
    with pytest.raises(subprocess.TimeoutExpired):
        server.run([probe, 'sleep', pid_file], tmp_path, env, timeout=15)
    # the tool's whole session is killed: what it started too
    time.sleep(0.5)
    assert not alive(int(pid_file.read_text()))
    # and the server goes on serving
    assert server.run([probe, 'ok'], tmp_path, env, 120).returncode == 0


def test_serves_only_what_it_can_stand_for(server):
    server, root = server
    env = tool_env()
    assert server.serves([root / 'probe.py'], env)
    assert not server.serves([REPO / 'tools' / 'train.py'], env)  # root
    repo_tools = ToolServer.__new__(ToolServer)
    repo_tools.env, repo_tools.proc = env, server.proc
    repo_tools.roots = [REPO / 'tools']
    assert repo_tools.serves(['tools/train.py'], env)
    assert not repo_tools.serves(['tools/dist_train.sh'], env)
    # a tool with no import of mte_mm of its own runs fresh (this one runs
    # before mmcv is built)
    assert not imports_mte_mm(REPO / 'tools' / 'misc' / 'patch_mmcv_cxx_std.py')
    assert not repo_tools.serves(['tools/misc/patch_mmcv_cxx_std.py'], env)
    # an environment that changes what importing does runs fresh
    assert not repo_tools.serves(
        ['tools/train.py'], dict(env, MTE_MM_DISABLE_SHIMS='all'))
    assert repo_tools.serves(['tools/train.py'], dict(env, PORT='1234'))
