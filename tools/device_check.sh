#!/usr/bin/env bash
# The GPU run kit: on a machine with one (or more) GPUs that has torch but not our stack, install the
# OpenMMLab wheels carried beside the tree, then run, writing every line to one results file:
#   1. tools/check_gpu.py: the stack, the auxiliary attention on the GPU, every pretraining config at
#      reduced depth (2 blocks per stage) for a few steps in bf16 and fp16, and DINO vs MTE-DINO images/s
#      and peak memory at ViT-S/16, batch 64;
#   2. the headline config (configs/mte_dino_vitb.py) at full size, batch 64, bf16, a few steps.
# Sized for about 10 minutes on one H100 (CHECK_JOBS trainings share the GPU at a time).
# With --study it runs, instead, the controlled study of MTE on one GPU: tools/analysis_tools/compare_methods.py
# on configs/small/mte_barlowtwins_gpu.py (a standard-width CIFAR-stem ResNet-18, 32 px, 100 epochs), Barlow
# Twins and MTE-Barlow Twins at seeds 0 and 1, with the raw-pixel and untrained-network controls, on
# tiny-imagenet-10 carried beside the tree (DATA, default <repo>/data/tiny-imagenet-10); its results.md goes
# into the results file. Also sized for about 10 minutes on one H100.
#
#   bash tools/device_check.sh --fetch-wheels         # here: download the wheels into device_wheels/
#   bash tools/device_check.sh [--out FILE]            # there: install them, run, write FILE
#   bash tools/device_check.sh --dry-run [--out FILE]  # the same steps on this CPU at tiny size (tested)
#   bash tools/device_check.sh --study [--data-root DIR] [--dry-run] [--out FILE]
#
# Wheels (docs/development.md): mmengine 0.10.7, mmcv-lite 2.1.0 (no compiled ops: pretraining needs none),
# mmpretrain 1.2.0 and those of their dependencies that the lent GPU image lacks, all pure Python (about 3 MB);
# the image has torch, numpy, opencv-python-headless, matplotlib, pillow, pyyaml, rich, einops. They are
# installed with --no-deps: mmengine asks for opencv-python, and the headless build it has serves.
# Environment: PYTHON (default python3), WHEELS (default <repo>/device_wheels), CHECK_JOBS (default 4),
# HEADLINE_STEPS (default 10), DATA and STUDY_DIR (default <repo>/work_dirs/gpu_study) for --study.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
WHEELS="${WHEELS:-$ROOT/device_wheels}"
PINS=(mmengine==0.10.7 mmcv-lite==2.1.0 mmpretrain==1.2.0)
MISSING=(addict yapf platformdirs termcolor mat4py modelindex model-index ordered-set importlib-metadata
         lazy-importer)
OUT="$ROOT/device_results.txt"
DATA="${DATA:-$ROOT/data/tiny-imagenet-10}"
STUDY_DIR="${STUDY_DIR:-$ROOT/work_dirs/gpu_study}"
dry=0
study=0

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
    --study) study=1 ;;
    --data-root) DATA="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    *) echo "usage: $0 [--fetch-wheels [PYVER]] | [--study [--data-root DIR]] [--dry-run] [--out FILE] (got '$1')" >&2
       exit 2 ;;
  esac
  shift
done

if [ $study = 1 ] && [ ! -d "$DATA/train" ]; then
  echo "device_check: no $DATA/train: carry tiny-imagenet-10 there (cp -r ../shared/data/tiny-imagenet-10 data/) or give --data-root DIR" >&2
  exit 2
fi
say() { printf '%s\n' "$*" | tee -a "$OUT"; }
: > "$OUT"
say "# device_check $(date -u +%Y-%m-%dT%H:%M:%SZ)$( [ $study = 1 ] && echo ' study')$( [ $dry = 1 ] && echo ' (dry run, CPU, tiny)')"
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
if [ $study = 1 ]; then
  say "## controlled study: configs/small/mte_barlowtwins_gpu.py, Barlow Twins vs MTE, data $DATA"
  seeds=(0 1)
  size=(--eval-interval 25 --ks 20 10)
  if [ $dry = 1 ]; then
    # one seed, one epoch, a 32-d network, batch 4, no workers
    seeds=(0)
    size=(--epochs 1 --eval-interval 1 --ks 20 10 --common model.backbone.backbone.base_channels=4
          model.backbone.backbone.stem_channels=4 model.neck.in_channels=32 model.neck.projector.in_channels=32
          model.neck.projector.hid_channels=32 model.neck.projector.out_channels=32 model.head.in_channels=32
          train_dataloader.batch_size=4 train_dataloader.num_workers=0 train_dataloader.persistent_workers=False)
  fi
  start=$(date +%s)
  mkdir -p "$STUDY_DIR"
  # its progress lines here, its whole output in study.log
  set +e
  "$PY" "$ROOT/tools/analysis_tools/compare_methods.py" configs/small/mte_barlowtwins_gpu.py --data-root "$DATA" \
    --work-dir "$STUDY_DIR" --seeds "${seeds[@]}" --resize 32 --crop 32 "${size[@]}" \
    --arm barlowtwins model.neck.num_pooled_tokens=0 model.distill=None --arm mte 2>&1 \
    | tee "$STUDY_DIR/study.log" | grep --line-buffered '^\[compare_methods\]' | tee -a "$OUT"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  set -e
  if [ $status = 0 ] && [ -f "$STUDY_DIR/results.md" ]; then cat "$STUDY_DIR/results.md" >> "$OUT"
  else say "[FAIL] the study: see $STUDY_DIR/study.log"; tail -20 "$STUDY_DIR/study.log" | tee -a "$OUT"; status=1; fi
  say "# device_check study: $( [ $status = 0 ] && echo passed || echo FAILED ) in $(( $(date +%s) - start )) s, results in $OUT and $STUDY_DIR"
  exit $status
fi
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
