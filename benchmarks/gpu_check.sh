#!/usr/bin/env bash
# The engine on one GPU (H100/H200), in one JSON, in under 8 minutes:
#   CPU-vs-GPU equality on a small grid (fp32 within 1e-5), images/s of ResNet-56 on 10,000
#   images per precision (fp32, TF32, bf16), eager and compiled, at the planned K and at K = 1,
#   peak memory, the fraction of a fixed-weight forward, and the projected wall time of a
#   51x51 grid on 50,000 images (targets: 5 min bf16, 20 min fp32).
# Prints the JSON and writes it to benchmarks/results/<date>-<gpu>/gpu-check.json.
# Extra arguments go to benchmarks/gpu_check.py (e.g. --budget 300).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
gpu=$(python -c 'import torch; print(torch.cuda.get_device_name(0).split()[-1].lower())')
out="benchmarks/results/$(date -u +%F)-${gpu}"
mkdir -p "$out"
timeout 470 python benchmarks/gpu_check.py --device cuda --budget 400 \
    --json "$out/gpu-check.json" "$@"
