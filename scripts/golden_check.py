"""Check outputs against lockstep's golden files with numpy + safetensors only.

Usage: python3 scripts/golden_check.py [GOLDEN_DIR]
Recomputes nothing: it shows how to load every case and compare bit for bit. Replace
`mine = expected` by your kernel's output to check it.
"""
import json, sys, numpy as np
from safetensors.numpy import load_file

def bits(x):  # the comparison key: raw bits, every NaN mapped to one NaN pattern
    b = x.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[x.dtype.itemsize]).copy()
    if x.dtype.kind == "f":
        b[np.isnan(x)] = np.iinfo(b.dtype).max  # all ones: itself a NaN, never a number
    return b

def as_float(x, dtype):  # bf16 is stored as uint16 bit patterns (numpy has no bfloat16)
    return (x.astype(np.uint32) << 16).view(np.float32) if dtype == "bf16" else x

golden = sys.argv[1] if len(sys.argv) > 1 else "golden"
manifest = json.load(open(f"{golden}/manifest.json"))
files, failed = {}, 0
for case in manifest["cases"]:
    t = files.setdefault(case["file"], load_file(f"{golden}/{case['file']}"))
    for out in case["outputs"]:
        expected = as_float(t[out["tensor"]], out["dtype"])
        mine = expected  # <- your kernel's output for this case, same dtype and shape
        diff = np.flatnonzero(bits(expected) != bits(mine))
        if diff.size:
            failed += 1
            print(f"FAIL {case['name']}: {diff.size} differ, first at {diff[0]}")
print(f"{len(manifest['cases']) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
