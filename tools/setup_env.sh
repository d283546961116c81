#!/usr/bin/env bash
# Idempotent set-up of the pinned mte_mm stack in a virtualenv, then (optionally) the demo or the tests.
#
#   bash tools/setup_env.sh          # install / verify only
#   bash tools/setup_env.sh demo     # ... then run the CPU demo (the README's first command)
#   bash tools/setup_env.sh test     # ... then run the test suite (the README's second command, CI)
#
# Environment:
#   MTE_VENV   virtualenv to create/use              (default: <repo>/.venv)
#   MTE_CACHE  where the compiled mmcv wheel is kept (default: ${XDG_CACHE_HOME:-~/.cache}/mte_mm)
#   PYTHON     interpreter used to create the venv   (default: python3.11, else python3)
#   MTE_NEED_GB free disk space required before a fresh install (default: 8)
#   MTE_TEST_WORKERS  pytest-xdist processes for `test` (default: the cores, at most 4; 0 = in-process)
#   MTE_STACK  pinned (default) or classic: the pretraining-only stack of requirements/classic.txt (torch 2.1,
#              mmcv-lite, no mmdet / mmseg) in .venv-classic/; `test` then runs the tests not marked
#              `transfer`
#
# mmcv 2.1.0 ships no wheel for torch 2.14, so it is compiled from its sdist with ops (~12 min on 2 cores).
# The wheel is cached under a key of mmcv + torch + Python versions: pip's own wheel cache is keyed by the
# sdist alone and would silently reuse a wheel compiled against another torch.
set -euo pipefail

mode="${1:-}"
case "$mode" in ""|demo|test) ;; *) echo "usage: $0 [demo|test] (got '$mode')" >&2; exit 2 ;; esac
shift || true
case "${MTE_TEST_WORKERS-0}" in  # checked before anything installs
  ''|*[!0-9]*) echo "[setup_env] error: MTE_TEST_WORKERS must be a whole number of workers (got '$MTE_TEST_WORKERS')" >&2
               exit 2 ;;
esac

case "${MTE_STACK:-pinned}" in
  pinned|classic) ;;
  *) echo "[setup_env] error: MTE_STACK must be pinned or classic (got '$MTE_STACK')" >&2; exit 2 ;;
esac
STACK="${MTE_STACK:-pinned}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$STACK" = classic ]; then VENV="${MTE_VENV:-$ROOT/.venv-classic}"; else VENV="${MTE_VENV:-$ROOT/.venv}"; fi
CACHE="${MTE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mte_mm}"
MMCV_VERSION=2.1.0
log() { printf '[setup_env] %s\n' "$*" >&2; }

# A fresh stack takes ~6.3 GB (torch 2.14.1 is a CUDA build: 5.5 GB of it) plus ~1 GB while mmcv compiles.
# Fail up front with the numbers rather than halfway through pip with ENOSPC.
NEED_GB="${MTE_NEED_GB:-8}"
if [ ! -d "$VENV/lib" ] || ! ls -d "$VENV"/lib/python*/site-packages/torch >/dev/null 2>&1; then
  probe="$VENV"; while [ ! -d "$probe" ]; do probe="$(dirname "$probe")"; done
  free_kb="$(df -Pk "$probe" | awk 'NR==2 {print $4}')"
  if [ "$free_kb" -lt $((NEED_GB * 1024 * 1024)) ]; then
    echo "[setup_env] error: installing the stack into $VENV needs about ${NEED_GB} GiB free on the disk holding" \
         "$probe, but only $((free_kb / 1024)) MiB are free. Free some space, or point MTE_VENV at another disk." >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  py="${PYTHON:-$(command -v python3.11 || command -v python3)}"
  log "creating virtualenv $VENV with $py"
  "$py" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# pip, minus this machine's noise about unused local index folders.
pipi() { "$PY" -m pip install --quiet "$@" 2> >(grep -v '^WARNING: Location' >&2); }

# A stamp of everything that decides what is installed: when it matches, the warm path skips pip.
stamp_src="$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$0" | sha256sum | cut -c1-16)"
stamp_file="$VENV/.mte_mm_stamp"
if [ "$STACK" = classic ] && [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_src" ]; then
  # nothing to compile: mmcv-lite is pure Python
  log "installing the classic pretraining stack (requirements/classic.txt)"
  pipi setuptools wheel -r "$ROOT/requirements/classic.txt" -r "$ROOT/requirements/tests.txt"
  pipi --no-deps --no-build-isolation -e "$ROOT"
  echo "$stamp_src" > "$stamp_file"
elif [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_src" ]; then
  log "installing build tools and torch"
  pipi -r "$ROOT/requirements/build.txt" -r "$ROOT/requirements/torch.txt"

  key="$("$PY" -c 'import sys, torch; print(f"mmcv-'"$MMCV_VERSION"'-torch{torch.__version__}-cp{sys.version_info[0]}{sys.version_info[1]}")')"
  wheel_dir="$CACHE/wheels/$key"
  if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    log "no cached mmcv wheel for $key: compiling mmcv $MMCV_VERSION with ops (~12 min on 2 cores)"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    "$PY" -m pip download --quiet --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$work" \
      2> >(grep -v '^WARNING: Location' >&2)
    tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
    # The one change to the sdist: torch 2.14's headers need C++20, mmcv's setup.py hard-codes -std=c++17.
    "$PY" "$ROOT/tools/misc/patch_mmcv_cxx_std.py" "$work/mmcv-$MMCV_VERSION/setup.py"
    (cd "$work/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "$PY" -m pip wheel --no-build-isolation --no-deps --quiet -w "$work/dist" .)
    mkdir -p "$(dirname "$wheel_dir")"
    tmp_dir="$wheel_dir.tmp.$$"
    rm -rf "$tmp_dir" && mkdir -p "$tmp_dir" && cp "$work"/dist/mmcv-*.whl "$tmp_dir/"
    rm -rf "$wheel_dir" && mv "$tmp_dir" "$wheel_dir"   # atomic publish: a half-built cache never exists
    rm -rf "$work"; trap - EXIT
  fi
  log "installing mmcv from $wheel_dir and the pinned OpenMMLab stack"
  pipi "$wheel_dir"/mmcv-*.whl -r "$ROOT/requirements/openmmlab.txt" -r "$ROOT/requirements/tests.txt"
  pipi --no-deps --no-build-isolation -e "$ROOT"
  echo "$stamp_src" > "$stamp_file"
else
  log "stack already installed (stamp $stamp_src)"
fi

log "checking the stack"
# check_gpu.py's light mode: the stack only (classic: pretraining; pinned:
# transfer to mmdet / mmseg too)
if [ "$STACK" = classic ]; then "$PY" "$ROOT/tools/check_gpu.py" --stack-only
else "$PY" "$ROOT/tools/check_gpu.py" --stack-only --transfer; fi

cd "$ROOT"
case "$mode" in
  demo) exec "$PY" tools/demo.py "$@" ;;
  test)
    # Most tests run a tool in a 1-thread subprocess, so one pytest process leaves cores idle: spread the test
    # files over worker processes (a file's tests stay together, so its module fixtures are built once).
    workers="${MTE_TEST_WORKERS:-$(( $(nproc) < 4 ? $(nproc) : 4 ))}"
    if [ "$workers" -gt 0 ]; then set -- -n "$workers" --dist loadfile "$@"; fi
    if [ "$STACK" = classic ]; then set -- -m 'not transfer' "$@"; fi
    exec "$PY" -m pytest tests "$@" ;;
esac
