#!/usr/bin/env bash
# Checks the harness's C++ step model (gpu/kernels/tc_model.h) against the H100 captures.
# Usage: scripts/tc-harness/model_check.sh DIR_WITH_NPZ   (needs g++, python3 with numpy)
set -euo pipefail
DIR=${1:?directory holding the *_m16n8k16*.npz / *_m64n64k16*.npz captures}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
g++ -O2 -o "$TMP/model_check" "$HERE/model_check.cpp"
for f in "$DIR"/bf16_*.npz "$DIR"/f16_*.npz; do
  python3 - "$f" "$TMP/x.bin" <<'PY'
import sys, numpy as np
z = np.load(sys.argv[1])
with open(sys.argv[2], "wb") as o:
    for c in sorted(set(k.rsplit("_", 1)[0] for k in z.files)):
        A, B, C, D = (z[c + s] for s in ("_A", "_B", "_C", "_D"))
        np.array([A.shape[0], A.shape[1], A.shape[2], B.shape[2]], dtype=np.int32).tofile(o)
        A.astype(np.uint16).tofile(o); B.astype(np.uint16).tofile(o)
        C.astype(np.uint32).tofile(o); D.astype(np.uint32).tofile(o)
PY
  case $(basename "$f") in bf16_*) t=b ;; *) t=f ;; esac
  "$TMP/model_check" $t "$TMP/x.bin" | sed "s|$TMP/x.bin|$(basename "$f")|"
done
rm -rf "$TMP"
