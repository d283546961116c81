#!/usr/bin/env bash
# The GPU run kit: on a machine with one (or more) GPUs that has torch but not our stack, install the
# OpenMMLab wheels carried beside the tree, then run, writing every line to one results file:
#   1. tools/check_gpu.py: the stack, the auxiliary attention on the GPU, every pretraining config at
#      reduced depth (2 blocks per stage) for a few steps in bf16 and fp16, and DINO vs MTE-DINO images/s
#      and peak memory at ViT-S/16, batch 64;
#   2. the headline config (configs/mte_dino_vitb.py) at full size, batch 64, bf16, a few steps.
# Sized for about 10 minutes on one H100 (CHECK_JOBS trainings share the GPU at a time).
#
#   bash tools/device_check.sh --fetch-wheels         # here: download the wheels into device_wheels/
#   bash tools/device_check.sh [--out FILE]            # there: install them, run, write FILE
#   bash tools/device_check.sh --dry-run [--out FILE]  # the same steps on this CPU at tiny size (tested)
#
# Wheels (docs/development.md): mmengine 0.10.7, mmcv-lite 2.1.0 (no compiled ops: pretraining needs none),
# mmpretrain 1.2.0 and those of their dependencies that the lent GPU image lacks, all pure Python (about 3 MB);
# the image has torch, numpy, opencv-python-headless, matplotlib, pillow, pyyaml, rich, einops. They are
# installed with --no-deps: mmengine asks for opencv-python, and the headless build it has serves.
# Environment: PYTHON (default python3), WHEELS (default <repo>/device_wheels), CHECK_JOBS (default 4),
# HEADLINE_STEPS (default 10).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
WHEELS="${WHEELS:-$ROOT/device_wheels}"
PINS=(mmengine==0.10.7 mmcv-lite==2.1.0 mmpretrain==1.2.0)
MISSING=(addict yapf platformdirs termcolor mat4py modelindex model-index ordered-set importlib-metadata
         lazy-importer)
OUT="$ROOT/device_results.txt"
dry=0

case "${1:-}" in
  --fetch-wheels)
    mkdir -p "$WHEELS"
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" "${PINS[@]}" "${MISSING[@]}" \
      2> >(grep -v '^WARNING: Location' >&2)
    echo "device_check: $(ls "$WHEELS"/*.whl | wc -l) wheels in $WHEELS ($(du -sh "$WHEELS" | cut -f1))"
    exit 0 ;;
esac
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --out) OUT="$2"; shift ;;
    *) echo "usage: $0 [--fetch-wheels [PYVER]] | [--dry-run] [--out FILE] (got '$1')" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '%s\n' "$*" | tee -a "$OUT"; }
: > "$OUT"
say "# device_check $(date -u +%Y-%m-%dT%H:%M:%SZ) $( [ $dry = 1 ] && echo '(dry run, CPU, tiny)')"
say "# commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# 1. the stack: install the carried wheels only where OpenMMLab is missing
if ! "$PY" -c 'import mmengine, mmpretrain, mmcv' 2>/dev/null; then
  if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    say "[FAIL] no OpenMMLab stack and no wheels in $WHEELS: run 'bash tools/device_check.sh --fetch-wheels' where the package registries are reachable, and carry $WHEELS"
    exit 1
  fi
  "$PY" -m pip install --quiet --no-index --no-deps "$WHEELS"/*.whl 2>&1 | tee -a "$OUT"
fi
"$PY" - <<'EOF' 2>&1 | tee -a "$OUT"
import torch
gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
print(f'# torch {torch.__version__}, CUDA {torch.version.cuda}, devices: {gpus or "none (CPU)"}')
EOF

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHON="$PY"
status=0
if [ $dry = 1 ]; then
  # the same two steps, as small as they go: one config in one process, one step, the tiny throughput
  # (every config's step is tests/test_configs/test_every_config.py)
  check=(--configs configs/mte_dino_vits.py --steps 1 --gpus 1)
  headline=(--blocks 1 --batch 2 --steps 1 --gpus 1)
else
  check=(--jobs "${CHECK_JOBS:-4}")
  headline=(--blocks 0 --batch 64 --steps "${HEADLINE_STEPS:-10}")
fi
say "## check_gpu"
"$PY" "$ROOT/tools/check_gpu.py" "${check[@]}" 2>&1 | tee -a "$OUT" || status=1
say "## headline config at full size"
"$PY" "$ROOT/tools/check_gpu.py" --configs configs/mte_dino_vitb.py --no-throughput "${headline[@]}" \
  2>&1 | tee -a "$OUT" || status=1
say "# device_check: $( [ $status = 0 ] && echo passed || echo FAILED ), results in $OUT"
exit $status
