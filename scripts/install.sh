#!/usr/bin/env bash
# One set-up command: system libraries, torch (CPU or CUDA), then parass2s_hf with its extras.
#   bash scripts/install.sh            # detects a GPU with nvidia-smi
#   bash scripts/install.sh --cpu      # force the CPU set-up (what CI runs)
# Installs into the active Python environment (activate a venv first).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=auto
for arg in "$@"; do
  case "$arg" in
    --cpu) mode=cpu ;;
    --gpu) mode=gpu ;;
    *) echo "usage: $0 [--cpu|--gpu]" >&2; exit 2 ;;
  esac
done
if [ "$mode" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then mode=gpu; else mode=cpu; fi
fi

# FFmpeg's shared libraries: torchcodec decodes and encodes audio through them (datasets' Audio feature).
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
elif ! command -v ffmpeg >/dev/null 2>&1; then
  echo "warning: install FFmpeg (4-8, shared libraries) with your system's package manager" >&2
fi

python -m pip install -q -U pip
if [ "$mode" = cpu ]; then
  # CPU wheels: torch 2.13.0 is the CPU build on disk here; torchcodec 0.13.0 is the last CPU-only wheel
  # (0.14+ is linked against CUDA libraries and fails to load beside CPU torch).
  python -m pip install -q torch==2.13.0
  python -m pip install -q torchcodec==0.13.0
else
  python -m pip install -q torch torchcodec
fi
python -m pip install -q -e ".[train,api,listen,dev]"
python -c "import parass2s_hf, torch, torchcodec; print('parass2s_hf', parass2s_hf.__version__, '| torch', torch.__version__, '| torchcodec', torchcodec.__version__)"
