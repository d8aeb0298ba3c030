#!/usr/bin/env bash
# ibq's FID Inception against PyTorch: tests/reference/inception_reference.py writes random full-size weights
# (95 MB, so they are made here rather than committed) and the float64 reference's pool3 and logits for four
# batches into DIR, then check_inception runs the C++ network on the same inputs, on both of its paths, and
# fails, naming the tensor, when either differs by more than 1e-4 of its largest value. Skipped (77) without
# PyTorch.
#   inception_parity.sh CHECK_INCEPTION DIR SOURCE_DIR
set -u
check=$1 dir=$2 src=$3
py=${IBQ_PYTHON:-/usr/bin/python3}
if ! "$py" -c "import torch, torchvision, h5py" 2>/dev/null; then
  echo "SKIP: $py cannot import torch, torchvision and h5py (hpc/setup.sh --with-torch installs them)"
  exit 77
fi
rm -rf "$dir" && mkdir -p "$dir"
"$py" "$src/tests/reference/inception_reference.py" "$dir" || { echo "FAIL: the PyTorch reference failed"; exit 1; }
# oneDNN with NHWC activations where the build has it, then the NCHW im2col path of other builds and devices.
"$check" "$dir/inception_weights.h5" "$dir/inception_fixture.h5" || exit 1
IBQ_CONV=im2col "$check" "$dir/inception_weights.h5" "$dir/inception_fixture.h5"
