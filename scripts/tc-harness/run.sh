#!/usr/bin/env bash
# Runs the tensor-core harness on the GPU machine: correctness (model, base kernels, wgmma
# kernels) then timing, each in its own process. Usage: run.sh OUTDIR
# Uses ./tc_harness if it is here and runs, else builds it with nvcc (CUDA 13, sm_90a).
set -u
OUTD=${1:-.}
cd "$(dirname "$0")"
./tc_harness >/dev/null 2>&1
if [ $? -ne 2 ]; then  # 2 = usage: the binary runs here
  echo "building tc_harness with nvcc"
  nvcc -std=c++17 -O3 -DTC_HANG_TRAP -gencode=arch=compute_90a,code=sm_90a -o tc_harness tc_harness.cu -ldl || exit 3
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv 2>&1 | tee "$OUTD/env.log"
(timeout 90 ./tc_harness model "$OUTD"; echo "exit=$?") 2>&1 | tee "$OUTD/model.log"
(timeout 150 ./tc_harness check base; echo "exit=$?") 2>&1 | tee "$OUTD/check_base.log"
(timeout 150 ./tc_harness check wg; echo "exit=$?") 2>&1 | tee "$OUTD/check_wg.log"
if grep -q "RESULT check wg: [0-9]* checks, 0 failed" "$OUTD/check_wg.log"; then SET=all; else SET=nowg; fi
(timeout 240 ./tc_harness time $SET "$OUTD"; echo "exit=$?") 2>&1 | tee "$OUTD/time.log"
# A second timing pass: the spread between the two is the noise floor of the table.
(timeout 240 ./tc_harness time $SET "$OUTD"; echo "exit=$?") > "$OUTD/time2.log" 2>&1
grep -h "RESULT\|exit=" "$OUTD"/model.log "$OUTD"/check_base.log "$OUTD"/check_wg.log "$OUTD"/time.log "$OUTD"/time2.log
