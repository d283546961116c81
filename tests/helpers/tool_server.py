"""A pre-imported interpreter that runs the repo's Python tools for the tests.

Most tests run a tool (``tools/train.py``, ``tools/knn_eval.py``, ...) in a
fresh interpreter, as a user would. ``import mte_mm`` alone costs 4-8 s of
CPU (torch, then mmpretrain's models, which import mmdet's and scikit-learn),
so on 2 cores the imports of the tool processes were minutes of the suite.
This server imports ``mte_mm`` once per pytest worker and forks a child per
tool run; the child becomes what ``python TOOL ARGS`` would be: its own
session (a timeout kills the tool and what it started), argv, cwd,
environment, ``sys.path[0]`` the tool's folder, stdin ``/dev/null``, stdout
and stderr to files, fresh random seeds, ``__main__`` the tool, and it exits
as Python does (atexit handlers, non-daemon threads joined).

What a forked child cannot stand for, :func:`tool_process` runs in a fresh
interpreter instead:

- anything but a ``.py`` file under ``tools/``: shell scripts, and stock
  mmdet / mmseg tools, which must import ``mte_mm`` through the config's
  ``custom_imports``;
- a tool with no ``import mte_mm`` (or of a submodule) of its own
  (:func:`imports_mte_mm`), so the pre-import hides no missing import;
- an environment that changes what importing does
  (:data:`IMPORT_TIME_PREFIXES`, e.g. ``MTE_MM_DISABLE_SHIMS``).

``MTE_TEST_FRESH_TOOLS=1`` runs every tool fresh (to compare, or to rule the
server out). Its own tests: ``tests/test_tool_server.py``.
"""
import ast
import functools
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / 'tools'

#: environment variables read when modules are imported or libraries load
#: (threads, shims, the interpreter itself): a request whose value differs
#: from the server's runs in a fresh interpreter
IMPORT_TIME_PREFIXES = ('PYTHON', 'MTE_MM_', 'OMP_', 'MKL_', 'OPENBLAS_',
                        'KMP_', 'GOMP_', 'TORCH', 'CUDA', 'LD_', 'MMCV',
                        'NUMEXPR_')
#: read by shell scripts, not by an import (``PYTHON=...`` picks the
#: interpreter of ``dist_train.sh``), or applied by the child itself
#: (``PYTHONPATH``: its new entries go where Python puts them, after
#: ``sys.path[0]``)
RUN_TIME_NAMES = ('PYTHON', 'PYTHONPATH')


def _import_time_env(env):
    return {key: value for key, value in env.items()
            if key.startswith(IMPORT_TIME_PREFIXES)
            and key not in RUN_TIME_NAMES}


@functools.lru_cache(maxsize=None)
def imports_mte_mm(script):
    """Whether the file at ``script`` has an import statement of ``mte_mm``
    or of one of its submodules (either runs ``mte_mm/__init__``: the compat
    shims and every registration), anywhere in it."""
    tree = ast.parse(Path(script).read_text(), filename=str(script))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or '']
        else:
            continue
        if any(name == 'mte_mm' or name.startswith('mte_mm.')
               for name in names):
            return True
    return False


def tool_env(extra=None):
    """A tool's environment as the tests give it: this one, with this
    interpreter's folder first on ``PATH`` (``python`` in the shell scripts is
    this one), ``OMP_NUM_THREADS=1`` unless set, then ``extra``."""
    env = dict(os.environ)
    env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}' \
        f'{env.get("PATH", "")}'
    env.setdefault('OMP_NUM_THREADS', '1')
    env.update(extra or {})
    return env


def _send(fd, obj):
    data = pickle.dumps(obj)
    data = struct.pack('>Q', len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def _receive_exactly(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b''.join(chunks)


def _receive(fd):
    size, = struct.unpack('>Q', _receive_exactly(fd, 8))
    return pickle.loads(_receive_exactly(fd, size))


# ---------------------------------------------------------------- the server
def _serve(requests, replies):
    """Fork a child per request; return the request in the child, never in
    the server (it exits when the client closes the pipe)."""
    while True:
        try:
            request = _receive(requests)
        except EOFError:
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            os.close(requests)
            os.close(replies)
            return request
        _send(replies, pid)
        _, status = os.waitpid(pid, 0)
        _send(replies, os.waitstatus_to_exitcode(status))


def _become(request):
    """Turn this forked child into ``python argv...`` run in ``cwd``."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for fd, path in ((1, request['stdout']), (2, request['stderr'])):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, fd)
        os.close(out)
    os.chdir(request['cwd'])
    os.environ.clear()
    os.environ.update(request['env'])
    script = request['argv'][0]
    sys.argv = list(request['argv'])
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    # PYTHONPATH right after it, as Python puts it, even an entry the server
    # has later on (the editable install's .pth adds the repo after
    # site-packages, where a site-packages 'tests' package would shadow ours)
    entries = [entry for entry in os.environ.get('PYTHONPATH', '').split(
        os.pathsep) if entry]
    sys.path[1:] = entries + [entry for entry in sys.path[1:]
                              if entry not in entries]
    tempfile.tempdir = None  # TMPDIR as this run's environment says
    import numpy as np
    np.random.seed()  # a fresh interpreter's global numpy state is random
    # (``random`` reseeds itself after a fork)
    import runpy
    runpy.run_path(script, run_name='__main__')


def _main():
    # the protocol's pipes move off 0/1, so nothing an import prints can
    # corrupt them
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.path[0] = str(TOOLS)
    import mte_mm  # noqa: F401  (the point: imported once, before any fork)
    import numpy  # noqa: F401
    _become(_serve(requests, replies))


# ---------------------------------------------------------------- the client
class ToolServer:
    """One server process; :meth:`run` is ``subprocess.run`` of a tool."""

    def __init__(self, env, roots=(TOOLS, )):
        self.env = dict(env)
        self.roots = [Path(root).resolve() for root in roots]
        self.proc = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, bufsize=0, cwd=REPO, env=self.env)

    def serves(self, argv, env):
        """Whether a forked child can stand for ``python argv`` in ``env``."""
        if os.environ.get('MTE_TEST_FRESH_TOOLS') or self.proc.poll() \
                is not None:
            return False
        script = Path(argv[0])
        if script.suffix != '.py':
            return False
        script = (script if script.is_absolute() else REPO / script).resolve()
        return any(root in script.parents for root in self.roots) and \
            script.is_file() and imports_mte_mm(script) and \
            _import_time_env(env) == _import_time_env(self.env)

    def run(self, argv, cwd, env, timeout):
        """Run ``python argv`` (``argv[0]`` a tool) in a forked child; a
        :class:`subprocess.CompletedProcess` with text stdout and stderr, or
        :class:`subprocess.TimeoutExpired` after killing the tool's session;
        None if the server has ended.
        """
        argv = [str(arg) for arg in argv]
        with tempfile.TemporaryDirectory(prefix='mte_tool_') as folder:
            stdout, stderr = Path(folder, 'stdout'), Path(folder, 'stderr')
            requests, replies = self.proc.stdin.fileno(), \
                self.proc.stdout.fileno()
            try:
                _send(requests, dict(argv=argv, cwd=str(cwd), env=env,
                                     stdout=str(stdout), stderr=str(stderr)))
                pid = _receive(replies)
                ready, _, _ = select.select([replies], [], [], timeout)
                if not ready:
                    os.killpg(pid, signal.SIGKILL)
                code = _receive(replies)
            except (EOFError, BrokenPipeError):
                # it ended (an import that fails, a kill): the caller runs
                # the tool fresh, where the failure shows as it is
                self.proc.kill()
                return None
            out = stdout.read_text(errors='replace') if stdout.exists() else ''
            err = stderr.read_text(errors='replace') if stderr.exists() else ''
        cmd = [sys.executable, *argv]
        if not ready:
            raise subprocess.TimeoutExpired(cmd, timeout, out, err)
        return subprocess.CompletedProcess(cmd, code, out, err)

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_server = None


def tool_process(args, cwd=REPO, env=None, timeout=600):
    """``subprocess.run`` of a repo tool with captured text output, whatever
    its exit code, in :func:`tool_env` updated with ``env``: a tool the server
    :meth:`~ToolServer.serves` runs in a child forked from it (one server per
    pytest worker, started on first use); anything else in a fresh
    interpreter (``sys.executable`` for a ``.py`` file)."""
    global _server
    args = [str(arg) for arg in args]
    env = tool_env(env)
    if args[0].endswith('.py'):
        if _server is None and not os.environ.get('MTE_TEST_FRESH_TOOLS'):
            _server = ToolServer(tool_env())
        if _server is not None and _server.serves(args, env):
            proc = _server.run(args, cwd, env, timeout)
            if proc is not None:
                return proc
        args = [sys.executable, *args]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def close_server():
    global _server
    if _server is not None:
        _server.close()
        _server = None


if __name__ == '__main__':
    _main()
