#!/usr/bin/env python3
"""A Triton `tl.dot` kernel checked bit for bit against the golden mma-sm90-v1 cases.

docs/spec/mma-sm90.md says that a tensor-core GEMM that keeps one f32 accumulator per output
and feeds it the k16 steps of K in order, from +0, with no split of K, produces exactly the
mma-sm90-v1 bits on sm_90. This script tests that claim on a kernel written by someone else's
compiler: a plain Triton matmul, `acc = tl.dot(a, b, acc)` over BLOCK_K = 16 tiles of K in
order (each `tl.dot` one k16 tensor-core step per output: mma.sync or wgmma, Triton's choice),
zero-padded past K (zero products take no part in the step), bias (addmm) added after the
chain with one f32 add, and the f32 result rounded once to the case's output type (nearest
even). Every output is compared bit for bit with the golden file (any NaN equals any NaN).

The same kernel with K split in two (two chains from +0, partials added in f32, as a
split-K GEMM does) is run as the negative control: it is expected to differ.

Usage (GPU machine, torch + triton, no network):
    python3 scripts/triton_golden_mma.py --golden golden --out DIR
writes DIR/triton-mma-<device>.json (or --out FILE.json) and prints one verdict per case.
    python3 scripts/triton_golden_mma.py --golden golden --list
loads and lists the cases without a GPU (numpy + safetensors only).
Exit status 0 when every case of the one-chain kernel matches (the split-K control may
differ: that is its job), 1 otherwise.
"""
import argparse
import datetime
import json
import os
import socket
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONTRACT = "mma-sm90-v1"
BLOCK_M, BLOCK_N, BLOCK_K = 64, 32, 16

try:  # torch and Triton only on the GPU machine; loading and comparing need neither.
    import torch
    import triton
    import triton.language as tl

    GPU_IMPORT_ERROR = None
except ImportError as e:
    torch = triton = tl = None
    GPU_IMPORT_ERROR = str(e)

if triton is not None:

    @triton.jit
    def _mm_chain(a_ptr, b_ptr, bias_ptr, c_ptr, M, N, K, k_begin, k_end, HAS_BIAS: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
        # One f32 accumulator per output, from +0; one tl.dot (a k16 tensor-core step when
        # BK = 16) per K tile, in increasing k: the mma-sm90-v1 tree when [k_begin, k_end)
        # is all of K. Past k_end (and past M, N) the operands are zero.
        pid_m, pid_n = tl.program_id(0), tl.program_id(1)
        rm = pid_m * BM + tl.arange(0, BM)
        rn = pid_n * BN + tl.arange(0, BN)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k0 in range(k_begin, k_end, BK):
            rk = k0 + tl.arange(0, BK)
            a = tl.load(a_ptr + rm[:, None] * K + rk[None, :], mask=(rm[:, None] < M) & (rk[None, :] < k_end), other=0.0)
            b = tl.load(b_ptr + rk[:, None] * N + rn[None, :], mask=(rk[:, None] < k_end) & (rn[None, :] < N), other=0.0)
            acc = tl.dot(a, b, acc)
        if HAS_BIAS:
            # After the whole chain, one IEEE f32 add (never the first step's C).
            acc = acc + tl.load(bias_ptr + rn, mask=rn < N, other=0.0)[None, :]
        tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


# ---------------------------------------------------------------------------------------
# Golden cases (numpy + safetensors only, as scripts/golden_check.py)
# ---------------------------------------------------------------------------------------

def bits(x):
    """The comparison key: raw bits, every NaN mapped to one pattern (any NaN equals any NaN)."""
    b = x.view({2: np.uint16, 4: np.uint32}[x.dtype.itemsize]).copy()
    if x.dtype.kind == "f":
        b[np.isnan(x)] = np.iinfo(b.dtype).max
    return b


def as_float(x, dtype):
    """A stored tensor as its exact float values (bf16 is stored as uint16 bit patterns)."""
    if dtype == "bf16":
        return (x.astype(np.uint32) << 16).view(np.float32)
    return x


def load_cases(golden, contract=CONTRACT):
    """Every golden case of `contract`: dicts with name, op, in/out dtypes and the arrays
    (inputs by name as stored, expected output as stored: bf16 as uint16 bits)."""
    from safetensors.numpy import load_file

    manifest = json.load(open(os.path.join(golden, "manifest.json")))
    files, cases = {}, []
    for c in manifest["cases"]:
        if c["contract"] != contract:
            continue
        t = files.setdefault(c["file"], load_file(os.path.join(golden, c["file"])))
        ins = {i["name"]: (t[i["tensor"]], i["dtype"]) for i in c["inputs"]}
        (out,) = c["outputs"]
        cases.append(
            {
                "name": c["name"],
                "op": c["op"],
                "in_dtype": ins["a"][1],
                "out_dtype": out["dtype"],
                "inputs": ins,
                "expected": t[out["tensor"]],
            }
        )
    return cases


def compare(expected, got, out_dtype):
    """Bit-for-bit verdict of one output: element count, differing count, first difference."""
    e, g = as_float(expected, out_dtype), as_float(got, out_dtype)
    if e.shape != g.shape:
        return {"elements": int(e.size), "differing": int(e.size), "first": f"shape {list(g.shape)} != {list(e.shape)}"}
    diff = np.flatnonzero(bits(e) != bits(g))
    first = None
    if diff.size:
        i = int(diff[0])
        eb, gb = expected.reshape(-1)[i], got.reshape(-1)[i]
        w = 4 if expected.dtype.itemsize == 2 else 8
        first = {
            "index": list(int(v) for v in np.unravel_index(i, e.shape)),
            "expected": f"0x{int(eb.view({2: np.uint16, 4: np.uint32}[expected.dtype.itemsize])):0{w}X} ({float(e.reshape(-1)[i])!r})",
            "got": f"0x{int(gb.view({2: np.uint16, 4: np.uint32}[got.dtype.itemsize])):0{w}X} ({float(g.reshape(-1)[i])!r})",
        }
    return {"elements": int(e.size), "differing": int(diff.size), "first": first}


def verdict_line(name, v):
    if v.get("skipped"):
        return f"skip  {name}: {v['skipped']}"
    if v["differing"] == 0:
        return f"pass  {name} ({v['elements']} elements)"
    f = v["first"]
    where = f if isinstance(f, str) else f"first at {f['index']}: expected {f['expected']}, got {f['got']}"
    return f"FAIL  {name}: {v['differing']} of {v['elements']} differ; {where}"


# ---------------------------------------------------------------------------------------
# The GPU part
# ---------------------------------------------------------------------------------------

def to_torch(x, dtype):
    """A stored input as a CUDA tensor of its dtype (bits preserved)."""
    if dtype == "bf16":
        return torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16).cuda()
    return torch.from_numpy(np.ascontiguousarray(x)).cuda()


def from_torch(t, out_dtype):
    """A CUDA result as stored in the golden files (bf16 as uint16 bits)."""
    t = t.cpu()
    if out_dtype == "bf16":
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def chain(a, b, bias, k_begin, k_end):
    """f32 results of one chain over k in [k_begin, k_end) for a (M×K) · b (K×N)."""
    M, K = a.shape
    N = b.shape[1]
    c = torch.empty((M, N), device="cuda", dtype=torch.float32)
    grid = (triton.cdiv(M, BLOCK_M), triton.cdiv(N, BLOCK_N))
    _mm_chain[grid](
        a, b, bias if bias is not None else c, c, M, N, K, k_begin, k_end, HAS_BIAS=bias is not None, BM=BLOCK_M, BN=BLOCK_N, BK=BLOCK_K, num_warps=4
    )
    return c


def split_point(K):
    """Where the split-K control cuts K: the middle, on a 16 boundary (None: K ≤ 16)."""
    s = 16 * ((K + 31) // 32)
    return s if 0 < s < K else None


def run_case(case, split):
    """The case's output (as stored in the golden files) from the one-chain kernel, or from
    the split-K control (`split`: two chains, partials added in f32, bias after them)."""
    ins, out_dtype = case["inputs"], case["out_dtype"]
    a = to_torch(*ins["a"]).contiguous()
    b = to_torch(*ins["b"]).contiguous()
    bias = to_torch(*ins["bias"]).float().contiguous() if "bias" in ins else None
    K = a.shape[-1]
    s = split_point(K) if split else None

    def one(a2, b2):
        if s is None:
            return chain(a2, b2, bias, 0, K)
        t = chain(a2, b2, None, 0, s) + chain(a2, b2, None, s, K)
        return t + bias[None, :] if bias is not None else t

    if case["op"] == "bmm":
        y = torch.stack([one(a[p].contiguous(), b[p].contiguous()) for p in range(a.shape[0])])
    else:
        y = one(a, b)
    # One rounding to the output type, nearest even (torch's f32 -> bf16/f16 conversion).
    y = {"f32": y, "bf16": y.to(torch.bfloat16), "f16": y.to(torch.float16)}[out_dtype]
    torch.cuda.synchronize()
    return from_torch(y, out_dtype)


def check(cases, split):
    results = []
    for c in cases:
        if c["op"] not in ("mm", "addmm", "bmm"):
            v = {"skipped": f"op {c['op']} is not a matmul"}
        elif split and split_point(c["inputs"]["a"][0].shape[-1]) is None:
            v = {"skipped": "K ≤ 16: nothing to split"}
        else:
            try:
                v = compare(c["expected"], run_case(c, split), c["out_dtype"])
            except Exception as e:  # noqa: BLE001 - a kernel failure is a result too
                v = {"elements": int(c["expected"].size), "differing": int(c["expected"].size), "first": f"error: {type(e).__name__}: {e}"}
        v = {"case": c["name"], "op": c["op"], "in_dtype": c["in_dtype"], "out_dtype": c["out_dtype"], **v}
        print(("  split-K " if split else "  ") + verdict_line(c["name"], v))
        results.append(v)
    return results


def totals(results):
    ran = [r for r in results if not r.get("skipped")]
    return {
        "cases": len(results),
        "passed": sum(r["differing"] == 0 for r in ran),
        "failed": sum(r["differing"] > 0 for r in ran),
        "skipped": len(results) - len(ran),
        "elements": sum(r["elements"] for r in ran),
        "differing_elements": sum(r["differing"] for r in ran),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--golden", default=os.path.join(ROOT, "golden"))
    ap.add_argument("--out", help="output JSON file, or a directory for triton-mma-<device>.json")
    ap.add_argument("--list", action="store_true", help="load and list the cases only (no GPU)")
    args = ap.parse_args()
    cases = load_cases(args.golden)
    if args.list:
        for c in cases:
            print(c["name"], c["op"], {k: list(v[0].shape) for k, v in c["inputs"].items()}, "->", c["out_dtype"], list(c["expected"].shape))
        print(f"{len(cases)} {CONTRACT} cases")
        return 0
    if GPU_IMPORT_ERROR is not None:
        sys.exit(f"triton_golden_mma: needs torch and triton ({GPU_IMPORT_ERROR})")
    if not torch.cuda.is_available():
        sys.exit("triton_golden_mma: no CUDA device")
    device = torch.cuda.get_device_name(0)
    cc = torch.cuda.get_device_capability(0)
    print(f"{device} (sm_{cc[0]}{cc[1]}), torch {torch.__version__}, triton {triton.__version__}: {len(cases)} {CONTRACT} cases")
    print(f"Triton tl.dot, one chain over K in order (BLOCK_M {BLOCK_M}, BLOCK_N {BLOCK_N}, BLOCK_K {BLOCK_K}):")
    nosplit = check(cases, split=False)
    print("negative control: the same kernel, K split in two (partials added in f32):")
    split = check(cases, split=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    t_ok, t_split = totals(nosplit), totals(split)
    data = {
        "device": device,
        "compute_capability": f"sm_{cc[0]}{cc[1]}",
        "host": socket.gethostname(),
        "torch": f"torch {torch.__version__}, CUDA {torch.version.cuda}",
        "triton": triton.__version__,
        "date": f"{now:%Y-%m-%d %H:%M} UTC",
        "command": "python3 scripts/triton_golden_mma.py --golden GOLDEN --out DIR",
        "contract": CONTRACT,
        "kernel": {
            "description": "acc = tl.dot(a, b, acc) per K tile in increasing k from acc = +0, zero-padded past K; addmm: acc + bias (one f32 add) after the chain; one rounding to the output type (nearest even)",
            "block_m": BLOCK_M,
            "block_n": BLOCK_N,
            "block_k": BLOCK_K,
            "num_warps": 4,
            "summary": t_ok,
            "cases": nosplit,
        },
        "split_k_control": {
            "description": "the same kernel over k < s and k >= s (s = K/2 rounded up to a multiple of 16), each chain from +0, partials added in f32, then bias and rounding",
            "summary": t_split,
            "cases": split,
        },
    }
    print(f"one chain: {t_ok['passed']} passed, {t_ok['failed']} failed, {t_ok['skipped']} skipped")
    print(f"split-K:   {t_split['passed']} passed, {t_split['failed']} failed, {t_split['skipped']} skipped (expected to fail)")
    slug = "".join(ch if ch.isalnum() else "-" for ch in device.lower()).strip("-")
    out = args.out or os.path.join(ROOT, "docs", "golden-data")
    if not out.endswith(".json"):
        out = os.path.join(out, f"triton-mma-{slug}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(data, f, indent=2)
    print(f"wrote {out}")
    return 0 if t_ok["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
