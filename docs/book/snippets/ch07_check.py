# Chapter 7: check your own kernel against lockstep's golden files, numpy + safetensors only.
# Runs in CI (scripts/build-book) from the repository root; its output is quoted in the book.
# ANCHOR: load
import json
import os
import subprocess

import numpy as np
from safetensors.numpy import load_file, save_file

GOLDEN = "golden"
manifest = json.load(open(f"{GOLDEN}/manifest.json"))


def load_case(name):
    """The inputs (in manifest order) and the expected output of one golden case."""
    case = next(c for c in manifest["cases"] if c["name"] == name)
    t = load_file(f"{GOLDEN}/{case['file']}")
    inputs = [t[i["tensor"]] for i in case["inputs"]]
    out = case["outputs"][0]
    return case, inputs, t[out["tensor"]], out["tensor"]


def compare(expected, got):
    """Bit for bit, as lockstep compares: any NaN equals any NaN, nothing else is forgiven."""
    e, g = expected.view(np.uint32), got.view(np.uint32)
    differ = (e != g) & ~(np.isnan(expected) & np.isnan(got))
    idx = np.flatnonzero(differ)
    if idx.size == 0:
        return f"PASS: {expected.size} of {expected.size} elements identical"
    i = idx[0]
    at = np.unravel_index(i, expected.shape)
    ulps = abs(int(e.flat[i]) - int(g.flat[i]))  # same sign here: the distance of the bit patterns
    return (
        f"FAIL: {idx.size} of {expected.size} elements differ; first at {tuple(int(x) for x in at)}: "
        f"expected {expected.flat[i]} (0x{e.flat[i]:08x}), got {got.flat[i]} (0x{g.flat[i]:08x}), {ulps} ulp"
    )


# ANCHOR_END: load


# ANCHOR: sum
# --- A row sum: the lane tree of the fma-v1 contract (L = 1024 lanes) -------------------
def row_sum_lanes(x, lanes=1024):
    acc = np.zeros((x.shape[0], lanes), np.float32)  # every lane starts at +0
    for j in range(0, x.shape[1], lanes):  # lane l folds x[l], x[l+L], ... in order
        chunk = x[:, j : j + lanes]
        acc[:, : chunk.shape[1]] += chunk  # one f32 add per element
    while acc.shape[1] > 1:  # pairwise: lane l += lane l + stride
        s = acc.shape[1] // 2
        acc = acc[:, :s] + acc[:, s:]
    return acc  # shape [rows, 1], like the golden output


case, (x,), expected, _ = load_case("fma-v1/sum/f32_f32/r2_h4096/rand")
print("sum", x.shape)
print("  lane tree (L = 1024):", compare(expected, row_sum_lanes(x)))
print("  numpy x.sum(axis=1): ", compare(expected, x.sum(axis=1, keepdims=True)))
# ANCHOR_END: sum



# ANCHOR: mm
# --- A matmul: the fma-v1 tree (fma chains over chunks of KC = 256, chunks added in order)
def fma32(a, b, c):
    """Correctly rounded float32 fma(a, b, c); numpy has no fma, so: the product is exact in
    float64 (24 + 24 bits), the sum is made round-to-odd in float64, and rounding that to
    float32 is then correct (53 >= 24 + 2)."""
    p, c = a.astype(np.float64) * b.astype(np.float64), c.astype(np.float64)
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)  # TwoSum: p + c == s + err exactly
    odd = (s.view(np.uint64) & 1) == 1
    fix = np.isfinite(err) & (err != 0) & ~odd  # inexact and even: step to the odd neighbour
    s = np.where(fix, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s.astype(np.float32)


def mm_chunked(a, b, kc):
    """C = A·B with K cut into chunks of kc, each an fma chain from +0, chunks added left to right."""
    total = None
    for k0 in range(0, a.shape[1], kc):
        acc = np.zeros((a.shape[0], b.shape[1]), np.float32)
        for k in range(k0, min(k0 + kc, a.shape[1])):
            acc = fma32(a[:, k : k + 1], b[k : k + 1, :], acc)
        total = acc if total is None else total + acc
    return total


name = "fma-v1/mm/f32_f32/m4_k515_n12/rand"
case, (a, b), expected, tensor = load_case(name)
K = a.shape[1]
mine = mm_chunked(a, b, kc=256)  # the contract: chunks 0..255, 256..511, 512..514
split_k = mm_chunked(a, b, kc=(K + 1) // 2)  # a plausible split-K kernel: two halves of K
print("mm", a.shape, "x", b.shape)
print("  KC = 256 (the contract):", compare(expected, mine))
print(f"  split-K in 2 (KC = {(K + 1) // 2}):  ", compare(expected, split_k))
print("  numpy a @ b (BLAS):     ", compare(expected, a @ b))

# ANCHOR_END: mm

# ANCHOR: save
# Hand both to lockstep: outputs under the golden tensor names, one directory per kernel.
out = os.path.join(os.environ.get("BOOK_OUT", "/tmp"), "ch07-outputs")
for kernel, y in [("pass", mine), ("split-k", split_k)]:
    os.makedirs(f"{out}/{kernel}", exist_ok=True)
    save_file({tensor: y}, f"{out}/{kernel}/matmul.safetensors")
# ANCHOR_END: save

# ANCHOR: ref
# A shape of your own: ask the reference (`lockstep ref mm`) and compare.
lockstep = os.environ.get("LOCKSTEP", "target/release/lockstep")
rng = np.random.default_rng(7)
a, b = rng.uniform(-1, 1, (3, 700)).astype(np.float32), rng.uniform(-1, 1, (700, 5)).astype(np.float32)
np.save(f"{out}/a.npy", a), np.save(f"{out}/b.npy", b)
subprocess.run([lockstep, "ref", "mm", "--contract", "fma-v1", "--a", f"{out}/a.npy", "--b", f"{out}/b.npy", "-o", f"{out}/c.npy"], check=True, capture_output=True)
print("your shape (3, 700) x (700, 5), KC = 256:", compare(np.load(f"{out}/c.npy"), mm_chunked(a, b, kc=256)))
# ANCHOR_END: ref
