#!/usr/bin/env python3
"""Renders the GPU benchmark JSON (`lockstep bench --json FILE`) as the markdown tables of
docs/perf.md: the targets of issues #5 and #7 against what was measured, then every row.
Numbers are computed from the JSON, never typed in.

Usage: python3 scripts/perf-tables.py BENCH.json [--write docs/perf.md]
With --write, replaces the text between `<!-- bench:begin -->` and `<!-- bench:end -->`.
"""
import argparse
import json
import math
import re
import sys


def gm(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def m_of(r):
    return int(re.search(r"M=(\d+)", r["shape"]).group(1))


def nk_of(r):
    n, k = re.search(r"N=(\d+) K=(\d+)", r["shape"]).groups()
    return int(n), int(k)


def rows_m(r):
    return int(r["shape"].strip("[]").split(",")[0])


def render(d):
    rows = [r for r in d["rows"] if r["status"] == "ok"]
    dev, c = d["device"], d["ceilings"]
    out = []
    w = out.append
    w(f"Device: {dev['name']} (sm_{dev['compute_capability'][0]}{dev['compute_capability'][1]}, {dev['sm_count']} SMs), "
      f"driver {dev.get('driver_version') or '?'} (CUDA {dev['driver_cuda_version'][0]}.{dev['driver_cuda_version'][1]}), "
      f"NVRTC {dev['nvrtc_version'][0]}.{dev['nvrtc_version'][1]}; {d['date_utc']}; command `{' '.join(d['command_line'])}`; "
      f"{len(d['rows'])} rows, {len(rows)} measured.")
    w("")
    w(f"Ceilings measured in the same run: copy {c['copy_gbps']:.0f} GB/s (read + written), "
      f"cuBLAS sgemm (pedantic) {c['sgemm_tflops']:.1f} TFLOP/s and bf16 GemmEx {c['bf16_tflops']:.0f} TFLOP/s at {c['gemm']}³.")
    w("")
    mm = [r for r in rows if r["family"] == "matmul"]

    def sel(op, lo, hi):
        return [r for r in mm if r["op"] == op and lo <= m_of(r) <= hi]

    f32, b16, tc = "fma-v1 f32→f32", "fma-v1 bf16→bf16", "mma-sm90-v1 bf16→bf16"

    def line(target, rs, want_ratio=None, want_copy=None, geo=True):
        if not rs:
            return f"| {target} | not measured | — |"
        ratios = [r["ratio"] for r in rs]
        parts, ok = [], True
        if want_ratio is not None:
            v = gm(ratios) if geo else min(ratios)
            parts.append(f"{'geomean' if geo else 'worst'} {v:.2f}× (range {min(ratios):.2f}–{max(ratios):.2f})")
            ok &= v >= want_ratio
        if want_copy is not None:
            copies = [r["pct_copy"] for r in rs]
            parts.append(f"copy {min(copies):.0f}–{max(copies):.0f} %")
            ok &= min(copies) >= want_copy
        verdict = "reported" if want_ratio == 0.0 and want_copy is None else ("met" if ok else "**missed**")
        return f"| {target} | {'; '.join(parts)} | {verdict} |"

    w("| target (issue) | measured | verdict |")
    w("| --- | --- | --- |")
    w(line("fma-v1 f32, M ≥ 256: ≥ 0.85× cuBLAS sgemm, geomean (#5)", sel(f32, 256, 1 << 30), 0.85))
    w(line("fma-v1 f32, M ≤ 16: ≥ 0.9× cuBLAS time, ≥ 80 % copy on the weight (#5)", sel(f32, 1, 16), 0.9, 80, geo=False))
    w(line("fma-v1 bf16 inputs, M ≤ 16: ≥ 0.9× cuBLAS bf16 time (#5)", sel(b16, 1, 16), 0.9, geo=False))
    # The fma chain's own ceiling at small M: 2·M·N·K flops at the measured sgemm rate (the
    # FP32 pipes), as a ratio to cuBLAS bf16 (tensor cores, bandwidth-bound there).
    caps = [(r["baseline_ms"] * 1e-3) / (2 * m_of(r) * nk_of(r)[0] * nk_of(r)[1] / (c["sgemm_tflops"] * 1e12)) for r in sel(b16, 1, 16)]
    if caps:
        worst = min(sel(b16, 1, 16), key=lambda r: r["baseline_ms"] * 1e-3 / (2 * m_of(r) * nk_of(r)[0] * nk_of(r)[1] / (c["sgemm_tflops"] * 1e12)))
        w(f"| ↳ ceiling of any fma-v1 kernel there: 2·M·N·K at the measured sgemm rate, as cuBLAS time / that | "
          f"{min(caps):.2f}–{max(caps):.2f}× (lowest: M={m_of(worst)}, N × K = {nk_of(worst)[0]} × {nk_of(worst)[1]}) | ceiling |")
    w(line("fma-v1 bf16 inputs, M ≥ 256: reported (tensor cores out of reach of fma) (#5)", sel(b16, 256, 1 << 30), 0.0))
    w(line("mma-sm90 bf16, M ≥ 256: ≥ 0.9× cuBLAS bf16, geomean (#7)", sel(tc, 256, 1 << 30), 0.9))
    w(line("mma-sm90 bf16, M ≤ 16: ≥ 0.9× cuBLAS time, ≥ 80 % copy on the weight (#7)", sel(tc, 1, 16), 0.9, 80, geo=False))
    w(line("mma-sm90 bf16, 32 ≤ M ≤ 128: reported (#7)", sel(tc, 32, 128), 0.0))
    for fam in ["rmsnorm", "softmax", "log_softmax"]:
        rs = [r for r in rows if r["family"] == fam and rows_m(r) >= 64]
        w(line(f"{fam}, M ≥ 64: ≥ 85 % of copy (#5)", rs, None, 85))
    w(line("attention decode: ≥ 75 % of copy on the KV bytes (#5)", [r for r in rows if r["family"] == "attn_decode"], None, 75))
    w("")
    w("Matmul: ratio = cuBLAS time / ours (above 1: ours is faster), per M; for M ≤ 16 the")
    w("second line of each cell group is the weight read as % of the copy ceiling.")
    w("")
    ms = sorted({m_of(r) for r in mm})
    for op in [f32, b16, tc]:
        rs = [r for r in mm if r["op"] == op]
        if not rs:
            continue
        w(f"**{op}** (baseline: {rs[0]['baseline']})")
        w("")
        w("| N × K | " + " | ".join(f"M={m}" for m in ms) + " |")
        w("| --- |" + " ---: |" * len(ms))
        for nk in sorted({nk_of(r) for r in rs}, key=lambda x: (x[1], x[0])):
            cell = {m_of(r): r for r in rs if nk_of(r) == nk}
            w(f"| {nk[0]} × {nk[1]} | " + " | ".join(f"{cell[m]['ratio']:.2f}" if m in cell else "—" for m in ms) + " |")
            w(f"| (% copy) | " + " | ".join(f"{cell[m]['pct_copy']:.0f}" if m in cell and m <= 16 else "" for m in ms) + " |")
        if op == tc:
            w("")
            kern = {}
            for r in rs:
                kern.setdefault(r["kernel"], []).append(m_of(r))
            w("Kernels chosen: " + "; ".join(f"`{k}` (M {min(v)}–{max(v)})" for k, v in sorted(kern.items(), key=lambda kv: min(kv[1]))) + ".")
        elif any(r.get("kernel") for r in rs):
            # fma: the launch plan of ops/matmul.rs, which depends on N as well as M (M ≤ 16).
            w("")
            parts = []
            for nk in sorted({nk_of(r) for r in rs}, key=lambda x: (x[1], x[0])):
                kern = {}
                for r in rs:
                    if nk_of(r) == nk and m_of(r) <= 16 and r.get("kernel"):
                        kern.setdefault(r["kernel"], []).append(m_of(r))
                parts.append(f"{nk[0]} × {nk[1]}: " + ", ".join(f"`{k}` (M {'/'.join(map(str, sorted(v)))})" for k, v in sorted(kern.items(), key=lambda kv: min(kv[1]))))
            w("Kernels chosen at M ≤ 16 (`matmul_fma_…`): " + "; ".join(parts) + ".")
        w("")
    for fam in ["rmsnorm", "softmax", "log_softmax"]:
        rs = [r for r in rows if r["family"] == fam]
        if not rs:
            continue
        hs = sorted({int(r["shape"].strip("[]").split(",")[1]) for r in rs})
        mrows = sorted({rows_m(r) for r in rs})
        same = any(r.get("baseline", "").startswith("copy, same") for r in rs)
        w(f"**{fam}** {rs[0]['op']}: % of copy (GB/s)" + ("; second line: ratio to a device copy of the same tensor, measured in the same run" if same else ""))
        w("")
        w("| H | " + " | ".join(f"M={m}" for m in mrows) + " |")
        w("| --- |" + " ---: |" * len(mrows))
        for h in hs:
            cell = {rows_m(r): r for r in rs if int(r["shape"].strip("[]").split(",")[1]) == h}
            w(f"| {h} | " + " | ".join(f"{cell[m]['pct_copy']:.0f} ({cell[m]['gbps']:.0f})" if m in cell else "—" for m in mrows) + " |")
            if same:
                w("| (vs copy) | " + " | ".join(f"{cell[m]['ratio']:.2f}×" if m in cell and cell[m].get("ratio") else "—" for m in mrows) + " |")
        w("")
    for fam, title in [("attn_decode", "attention decode"), ("attn_prefill", "attention prefill")]:
        rs = [r for r in rows if r["family"] == fam]
        if not rs:
            continue
        copy = any(r.get("baseline", "").startswith("copy, K") for r in rs)
        w(f"**{title}** {rs[0]['op']}, 32 query heads, 8 KV heads, D 128" + (
            "; `copy ms`: a device copy that moves as many bytes as the kernel reads of K and V, "
            "measured in the same run, and `vs copy` = that / ours" if copy else ""))
        w("")
        if copy:
            w("| shape | kernel | ms | copy ms | vs copy | GB/s | % copy |")
            w("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        else:
            w("| shape | kernel | ms | GB/s | % copy | TFLOP/s |")
            w("| --- | --- | ---: | ---: | ---: | ---: |")
        for r in rs:
            kern = f"`{r['kernel']}`" if r.get("kernel") else "—"
            if copy:
                w(f"| {r['shape']} | {kern} | {r['ours']['median_ms']:.4f} | {r['baseline_ms']:.4f} | {r['ratio']:.2f}× | {r['gbps']:.0f} | {r['pct_copy']:.1f} |")
            else:
                tf = f"{r['tflops']:.2f}" if r.get("tflops") else "—"
                w(f"| {r['shape']} | {kern} | {r['ours']['median_ms']:.4f} | {r['gbps']:.0f} | {r['pct_copy']:.1f} | {tf} |")
        w("")
    bad = [r for r in d["rows"] if r["status"] != "ok"]
    if bad:
        w(f"Rows not measured: {len(bad)} (" + ", ".join(sorted({r['status'] for r in bad})) + ").")
        w("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--write")
    a = ap.parse_args()
    text = render(json.load(open(a.json)))
    if not a.write:
        print(text)
        return
    doc = open(a.write).read()
    b, e = "<!-- bench:begin -->", "<!-- bench:end -->"
    if b not in doc or e not in doc:
        sys.exit(f"{a.write}: no {b} … {e} region")
    doc = doc[: doc.index(b) + len(b)] + f"\n<!-- generated by scripts/perf-tables.py {a.json}; do not edit -->\n" + text + "\n" + doc[doc.index(e):]
    open(a.write, "w").write(doc)


if __name__ == "__main__":
    main()
