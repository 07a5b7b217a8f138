#!/usr/bin/env python3
"""GPU-only numbers for the book (docs/book/), measured, never typed in.

Runs on a machine with a CUDA GPU, PyTorch and (for the second part) Triton; needs no Rust.
Writes docs/book/data/gpu-<device>-<date>.json (or the path given with --out) holding the
device, the date, the command and:

- "linspace": chapter 1's experiment: torch.mm(a[:1], b) vs torch.mm(a, b)[:1] for the
  2048×4096 / 4096×4096 linspace example, in f32 (TF32 off), bf16 and f16: the maximum
  absolute difference and whether row 0's bits differ.
- "mma": chapter 6's tensor-core products (inputs and outputs in gpu-...-mma.npz beside the
  JSON; the book build checks them against the mma-sm90-v1 reference on the CPU).
- "triton": chapter 7's kernels on the golden case fma-v1/mm/f32_f32/m4_k515_n12/rand: a
  Triton matmul with the fma-v1 tree (fma chains over chunks of KC = 256, chunks added in
  order) and the same kernel with split-K (two programs per tile, each half of K, partials
  added at the end), each compared bit for bit with the golden output.

Usage: python3 scripts/gpu-book-data.py [--golden golden] [--out FILE_OR_DIR]
Commit the JSON (and its -mma.npz) under docs/book/data/ with the names they were given;
scripts/build-book quotes them.
"""
import argparse
import datetime
import json
import os
import socket
import sys

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

try:  # Triton kernels live at module level (Triton resolves the names they call as globals)
    import triton
    import triton.language as tl

    TRITON_ERROR = None
except ImportError as e:
    triton, TRITON_ERROR = None, str(e)

if triton is not None:

    @triton.jit
    def _chain(a_ptr, b_ptr, rm, rn, mm, mn, N, K, k0, k1, BM: tl.constexpr, BN: tl.constexpr):
        # One fma chain from +0 over k0..k1-1, in order, for a BM×BN tile. One k at a time
        # with tl.fma (not tl.dot, whose order inside a tensor-core step is not fma-v1's).
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k in range(k0, k1):
            av = tl.load(a_ptr + rm * K + k, mask=mm, other=0.0)
            bv = tl.load(b_ptr + k * N + rn, mask=mn, other=0.0)
            acc = tl.fma(av[:, None], bv[None, :], acc)
        return acc

    @triton.jit
    def _mm_chunks(a_ptr, b_ptr, c_ptr, M, N, K, k_begin, k_end, KC: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr):
        # One program per BM×BN tile of C over k in [k_begin, k_end): chains over chunks of
        # KC aligned at k_begin, the chunk partials added in chunk order.
        pid_m, pid_n = tl.program_id(0), tl.program_id(1)
        rm = pid_m * BM + tl.arange(0, BM)
        rn = pid_n * BN + tl.arange(0, BN)
        mm, mn = rm < M, rn < N
        total = _chain(a_ptr, b_ptr, rm, rn, mm, mn, N, K, k_begin, tl.minimum(k_begin + KC, k_end), BM, BN)
        for k0 in range(k_begin + KC, k_end, KC):
            total = total + _chain(a_ptr, b_ptr, rm, rn, mm, mn, N, K, k0, tl.minimum(k0 + KC, k_end), BM, BN)
        tl.store(c_ptr + rm[:, None] * N + rn[None, :], total, mask=mm[:, None] & mn[None, :])

    @triton.jit
    def _mm_dot(a_ptr, b_ptr, c_ptr, M, N, K, k_begin, k_end, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
        # A bf16 tensor-core matmul over k in [k_begin, k_end): `acc = tl.dot(a, b, acc)` per
        # K tile, in order, so on sm_90 every output is one chain of k16 tensor-core steps
        # through one f32 accumulator: the mma-sm90-v1 tree when [k_begin, k_end) is all of K.
        pid_m, pid_n = tl.program_id(0), tl.program_id(1)
        rm = pid_m * BM + tl.arange(0, BM)
        rn = pid_n * BN + tl.arange(0, BN)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k0 in range(k_begin, k_end, BK):
            rk = k0 + tl.arange(0, BK)
            a = tl.load(a_ptr + rm[:, None] * K + rk[None, :], mask=(rm[:, None] < M) & (rk[None, :] < k_end), other=0.0)
            b = tl.load(b_ptr + rk[:, None] * N + rn[None, :], mask=(rk[:, None] < k_end) & (rn[None, :] < N), other=0.0)
            acc = tl.dot(a, b, acc)
        tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


def linspace_experiment():
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = []
    for dtype in [torch.float32, torch.bfloat16, torch.float16]:
        a = torch.linspace(-1000, 1000, 2048 * 4096, device="cuda").reshape(2048, 4096)
        b = torch.linspace(-1000, 1000, 4096 * 4096, device="cuda").reshape(4096, 4096)
        if dtype != torch.float32:  # scaled into the type's range; the order effect is the same
            a, b = (a / 1000).to(dtype), (b / 1000).to(dtype)
        alone = torch.mm(a[:1], b)
        batch = torch.mm(a, b)[:1]
        torch.cuda.synchronize()
        diff = (alone.float() - batch.float()).abs().max().item()
        bits_differ = int((alone.view(torch.int16 if dtype != torch.float32 else torch.int32) != batch.view(torch.int16 if dtype != torch.float32 else torch.int32)).sum().item())
        rows.append(
            {
                "library": f"torch.mm (cuBLAS), torch {torch.__version__}",
                "dtype": str(dtype).replace("torch.", "") + ("" if dtype == torch.float32 else " (inputs / 1000)"),
                "max_abs_diff": diff,
                "row_bits_differ": f"{bits_differ} of 4096",
            }
        )
    return rows


def triton_experiment(golden):
    if triton is None:
        return {"error": f"triton not importable: {TRITON_ERROR}"}
    from safetensors.numpy import load_file

    name = "fma-v1/mm/f32_f32/m4_k515_n12/rand"
    manifest = json.load(open(os.path.join(golden, "manifest.json")))
    case = next(c for c in manifest["cases"] if c["name"] == name)
    t = load_file(os.path.join(golden, case["file"]))
    a_np, b_np = (t[i["tensor"]] for i in case["inputs"])
    expected = t[case["outputs"][0]["tensor"]]

    a = torch.from_numpy(a_np).cuda().contiguous()
    b = torch.from_numpy(b_np).cuda().contiguous()
    M, K = a.shape
    N = b.shape[1]
    grid = (triton.cdiv(M, 16), triton.cdiv(N, 16))

    def run(k_begin, k_end, kc):
        c = torch.empty((M, N), device="cuda", dtype=torch.float32)
        _mm_chunks[grid](a, b, c, M, N, K, k_begin, k_end, KC=kc, BM=16, BN=16)
        return c

    contract = run(0, K, 256)
    half = (K + 1) // 2
    split_k = run(0, half, 256) + run(half, K, 256)  # two partials, added at the end
    kernels = []
    for kernel, got in [("fma-v1 tree (KC = 256)", contract), (f"split-K in 2 (K = {half} + {K - half})", split_k)]:
        got = got.cpu().numpy()
        e, g = expected.view(np.uint32), got.view(np.uint32)
        idx = np.flatnonzero(e != g)
        first = None
        if idx.size:
            i = idx[0]
            first = f"at {tuple(int(x) for x in np.unravel_index(i, expected.shape))}: expected 0x{e.flat[i]:08x}, got 0x{g.flat[i]:08x}"
        kernels.append({"kernel": kernel, "case": name, "elements": int(expected.size), "mismatches": int(idx.size), "first": first})
    return {"triton": triton.__version__, "kernels": kernels}


def mma_experiment(npz_path):
    """Chapter 6: bf16 products whose bits the book build checks against the mma-sm90-v1
    reference (`lockstep ref mm`) on the CPU: a non-split tensor-core kernel (Triton tl.dot,
    f32 out), the same kernel split-K in two (f32 out), and cuBLAS (torch.mm, bf16 out) for
    the whole batch and for its first row alone. Inputs and outputs go to an .npz beside the
    JSON (raw bits: bf16 as uint16, f32 as uint32)."""
    M, K, N = 64, 2048, 128
    g = torch.Generator(device="cpu").manual_seed(20261123)
    a = torch.randn(M, K, generator=g).to(torch.bfloat16).cuda().contiguous()
    b = torch.randn(K, N, generator=g).to(torch.bfloat16).cuda().contiguous()
    out = {"a": a.view(torch.int16).cpu().numpy().view(np.uint16), "b": b.view(torch.int16).cpu().numpy().view(np.uint16)}
    kernels = []
    if triton is not None:
        grid = (triton.cdiv(M, 64), triton.cdiv(N, 64))

        def run(k_begin, k_end):
            c = torch.empty((M, N), device="cuda", dtype=torch.float32)
            _mm_dot[grid](a, b, c, M, N, K, k_begin, k_end, BM=64, BN=64, BK=64)
            return c

        out["triton_nosplit"] = run(0, K).cpu().numpy().view(np.uint32)
        out["triton_splitk2"] = (run(0, K // 2) + run(K // 2, K)).cpu().numpy().view(np.uint32)
        kernels += [
            {"key": "triton_nosplit", "kernel": f"Triton tl.dot, one chain over K (triton {triton.__version__})", "out_dtype": "f32", "rows": M},
            {"key": "triton_splitk2", "kernel": "the same, split-K in 2 (partials added in f32)", "out_dtype": "f32", "rows": M},
        ]
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    out["cublas_batch"] = torch.mm(a, b).view(torch.int16).cpu().numpy().view(np.uint16)
    out["cublas_row0"] = torch.mm(a[:1], b).view(torch.int16).cpu().numpy().view(np.uint16)
    kernels += [
        {"key": "cublas_batch", "kernel": f"cuBLAS torch.mm, all {M} rows (bf16 out)", "out_dtype": "bf16", "rows": M},
        {"key": "cublas_row0", "kernel": "cuBLAS torch.mm, row 0 alone (bf16 out)", "out_dtype": "bf16", "rows": 1},
    ]
    torch.cuda.synchronize()
    np.savez_compressed(npz_path, **out)
    return {"shape": [M, K, N], "file": os.path.basename(npz_path), "kernels": kernels}


def triton_or_error(golden):
    """A failure of the Triton part is recorded (and shown as such in the book), so that the
    linspace numbers of the same run are not lost."""
    try:
        return triton_experiment(golden)
    except Exception as e:  # noqa: BLE001 - any failure is data here
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", default=os.path.join(ROOT, "golden"))
    ap.add_argument("--out")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu-book-data: no CUDA device; these numbers are GPU-only")
    device = torch.cuda.get_device_name(0)
    now = datetime.datetime.now(datetime.timezone.utc)
    data = {
        "device": device,
        "host": socket.gethostname(),
        "torch": f"torch {torch.__version__}, CUDA {torch.version.cuda}",
        "date": f"{now:%Y-%m-%d %H:%M} UTC",
        "command": "python3 scripts/gpu-book-data.py" + (f" --golden {args.golden}" if args.golden != os.path.join(ROOT, "golden") else ""),
        "linspace": linspace_experiment(),
        "triton": triton_or_error(args.golden),
    }
    slug = "".join(ch if ch.isalnum() else "-" for ch in device.lower()).strip("-")
    name = f"gpu-{slug}-{now:%Y%m%d}.json"
    out = args.out or os.path.join(ROOT, "docs", "book", "data", name)
    if os.path.isdir(out):  # --out DIR: the default name inside DIR (e.g. the device tool's $OUT)
        out = os.path.join(out, name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
        data["mma"] = mma_experiment(out[: -len(".json")] + "-mma.npz")
    except Exception as e:  # noqa: BLE001 - recorded, and shown as such in the book
        data["mma"] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    with open(out, "w") as f:
        json.dump(data, f, indent=2)
    print(json.dumps(data, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
