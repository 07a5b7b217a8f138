#!/usr/bin/env bash
# mm-lab (lab.cu): launch variants of the fma matmul kernels beside the launcher's kernels
# and cuBLAS, with a bitwise check of every variant against the launcher kernel.
#   scripts/mm-lab/run.sh build        here: writes scripts/mm-lab/program.cu (the fma-v1
#                                      NVRTC program) and, where nvcc is found (PATH or
#                                      NVCC=…), the binary scripts/mm-lab/lab (sm_90a)
#   bash scripts/mm-lab/run.sh run OUT [FILTER]
#                                      on the GPU machine: builds lab there if it is missing
#                                      (nvcc 13), runs it, writes OUT/lab.txt
# Both files are git-ignored: carry scripts/mm-lab/program.cu and scripts/mm-lab/lab.
# Compile options are the product's (kernels.rs): --fmad=false, no fast math, IEEE div/sqrt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cmd=${1:?usage: run.sh build | run OUT [FILTER]}
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
build() {
  "$nvcc" -O3 -std=c++17 -arch=sm_90a --fmad=false -prec-div=true -prec-sqrt=true -ftz=false \
    -Xptxas -v -o "$here/lab" "$here/lab.cu" -L"$(dirname "$nvcc")/../lib" -L"$(dirname "$nvcc")/../lib64" -lcublas 2>"$here/ptxas.txt" || { cat "$here/ptxas.txt" >&2; exit 1; }
}
case "$cmd" in
build)
  # The program up to and including matmul.cu (the later parts are not used here).
  (cd "$root" && cargo run --quiet --release -p lockstep-gpu --example program) | sed '/^#line 1 "rmsnorm.cu"/,$d' >"$here/program.cu"
  if [ -x "$nvcc" ]; then build; echo "mm-lab: built $here/lab" >&2; else echo "mm-lab: no nvcc here; run.sh run builds on the GPU machine" >&2; fi
  ;;
run)
  out=${2:?usage: run.sh run OUT [FILTER]}
  mkdir -p "$out"
  [ -x "$here/lab" ] || build
  if ldd "$here/lab" | grep -q "not found"; then  # cuBLAS from the CUDA toolkit or PyTorch's wheel
    lib=$(dirname "$(find / -name 'libcublas.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
    export LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}"
  fi
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv >"$out/lab.txt" 2>&1 || true
  "$here/lab" "${3:-}" | tee -a "$out/lab.txt"
  ;;
*) echo "usage: run.sh build | run OUT [FILTER]" >&2; exit 2 ;;
esac
