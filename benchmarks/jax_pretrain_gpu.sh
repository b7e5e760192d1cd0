#!/usr/bin/env bash
# `mbert bench jax-pretrain` at M-BERT base size on a GPU machine, in one shot.
#
# The GPU machine has Python 3.12, JAX (CUDA) and PyTorch but neither TensorFlow nor Keras, and
# no network. Keras and keras-hub travel as wheels; keras-hub 0.32 is the first release that
# imports without TensorFlow (keras-team/keras-hub#2891; 0.25.1, the project's pin, imports it
# from its Gemma 3 preprocessor), and it needs keras >= 3.15.
#
#   1. Here, with PyPI:        benchmarks/jax_pretrain_gpu.sh download      (fills .whl/)
#   2. There (device `run`, carry [".whl"]):
#                              bash benchmarks/jax_pretrain_gpu.sh [extra jax-pretrain options]
#
# Step 2 installs the wheels into /tmp/site, runs the benchmark (base size, batch 256 x 128,
# mixed_bfloat16, loss check against float32 on the machine's CPU) and writes
# benchmarks/results/gpu.json, copied to $OUT when that is set. Exits non-zero when the loss
# check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(keras==3.15.1 keras-hub==0.32.0 namex==0.1.0 optree==0.20.0)
RESULT=benchmarks/results/gpu.json

if [[ "${1:-}" == download ]]; then
  # Wheels for the device's CPython 3.12 on x86-64; the rest of what they need is on its image
  # (numpy, ml-dtypes, h5py, absl-py, rich, packaging, regex, tokenizers, click).
  rm -rf .whl
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
  exit 0
fi

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
python3 -c 'import jax; print("jax", jax.__version__, jax.devices())'
python3 -m benchmarks.jax_pretrain --output "$RESULT" "$@"
if [[ -n "${OUT:-}" ]]; then
  cp "$RESULT" "$OUT/"
fi
python3 - "$RESULT" <<'EOF'
import json, sys
check = json.load(open(sys.argv[1]))["loss_check"]
if check["match"] is False:
    sys.exit(f"loss check failed: {check}")
EOF
