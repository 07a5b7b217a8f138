#!/usr/bin/env python3
"""Writes docs/book/src/generated/: every diagram, plot, table and quoted output of the book,
made by running the project's own code. Called by scripts/build-book (which sets LOCKSTEP to
the built `lockstep` binary). Nothing here is typed in: if a command fails, the build fails,
except where a placeholder says exactly what is missing (GPU data, ops not yet in this build).
"""
import datetime
import glob
import json
import os
import shlex
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BOOK = os.path.join(ROOT, "docs", "book")
GEN = os.path.join(BOOK, "src", "generated")
LOCKSTEP = os.environ.get("LOCKSTEP", os.path.join(ROOT, "target", "release", "lockstep"))


def run(args, ok=(0,), **kw):
    """Runs a command from the repository root; returns (exit code, stdout)."""
    p = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, **kw)
    if p.returncode not in ok:
        sys.exit(f"book: `{shlex.join(args)}` exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.returncode, p.stdout


def write(name, text):
    with open(os.path.join(GEN, name), "w") as f:
        f.write(text)


def shown(args):
    """The command as a reader types it."""
    return shlex.join(["lockstep"] + args[1:])


def tree(name, args):
    """`lockstep tree ...` -> generated/NAME.dot and NAME.svg, plus the command in NAME.cmd."""
    cmd = [LOCKSTEP, "tree"] + args + ["-o", os.path.join(GEN, name + ".dot")]
    run(cmd)
    run(["dot", "-Tsvg", os.path.join(GEN, name + ".dot"), "-o", os.path.join(GEN, name + ".svg")])
    write(name + ".cmd", shown([LOCKSTEP, "tree"] + args) + "\n")


def trees():
    tree("mm-k8-kc4", ["matmul", "--k", "8", "--kc", "4", "--bias", "--values"])
    tree("mm-k8-nosplit", ["matmul", "--k", "8", "--kc", "none", "--bias", "--values"])
    tree("mm-mma-k40", ["matmul", "--contract", "mma-sm90-v1", "--k", "40"])
    tree("attn-p21", ["attention", "--last", "21", "--bn", "4", "--split", "8"])
    tree("attn-p21-anchor10", ["attention", "--last", "21", "--bn", "4", "--split", "8", "--anchor", "10"])
    tree("lanes-sum-h10-l4", ["lanes", "--width", "10", "--lanes", "4", "--op", "sum", "--values"])
    tree("lanes-max-h10-l4", ["lanes", "--width", "10", "--lanes", "4", "--op", "max", "--values", "--scale", "8"])


def command_output(name, args, ok=(0,)):
    """Runs a lockstep command and stores `$ command` + its output as generated/NAME.txt."""
    code, out = run([LOCKSTEP] + args, ok=ok)
    write(name + ".txt", f"$ {shown([LOCKSTEP] + args)}\n{out}" + (f"(exit status {code})\n" if code else ""))
    return code, out


def snippets():
    """Runs docs/book/snippets/*.py (those that need no GPU) against golden/; stdout -> .out."""
    env = dict(os.environ, LOCKSTEP=LOCKSTEP, BOOK_OUT=GEN, PYTHONHASHSEED="0")
    for path in sorted(glob.glob(os.path.join(BOOK, "snippets", "*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        p = subprocess.run([sys.executable, path], cwd=ROOT, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            sys.exit(f"book: snippet {name}.py failed ({p.returncode})\n{p.stdout}\n{p.stderr}")
        write(name + ".out", p.stdout)
        print(f"book: snippet {name}.py ran")


def ulps_vs_f64():
    """Error in ulps against an f64 dot product, for each contract, over random inputs,
    through `lockstep ref mm` (the reference's own results)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(20261123)
    tmp = os.path.join(GEN, "ulps")
    os.makedirs(tmp, exist_ok=True)
    ks = [16, 64, 256, 1024, 4096, 16384]
    m, n = 4, 64
    rows, missing = {}, []

    def ulps(got, exact):
        got = got.astype(np.float32)
        return np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)

    for contract, dtype in [("fma-v1", "f32"), ("mma-sm90-v1", "bf16")]:
        for k in ks:
            a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
            b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
            if dtype == "bf16":  # inputs rounded to bf16 (nearest even), stored as bit patterns
                to16 = lambda x: ((x.view(np.uint32) + 0x7FFF + ((x.view(np.uint32) >> 16) & 1)) >> 16).astype(np.uint16)
                a16, b16 = to16(a), to16(b)
                a, b = (a16.astype(np.uint32) << 16).view(np.float32), (b16.astype(np.uint32) << 16).view(np.float32)
                np.save(f"{tmp}/a.npy", a16), np.save(f"{tmp}/b.npy", b16)
                extra = ["--in-dtype", "bf16"]
            else:
                np.save(f"{tmp}/a.npy", a), np.save(f"{tmp}/b.npy", b)
                extra = []
            cmd = [LOCKSTEP, "ref", "mm", "--contract", contract, "--a", f"{tmp}/a.npy", "--b", f"{tmp}/b.npy", "-o", f"{tmp}/y.npy"] + extra
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if p.returncode != 0:
                lines = p.stderr.strip().splitlines() or ["?"]
                at = next((i for i, x in enumerate(lines) if "panicked" in x), None)
                last = lines[at + 1] if at is not None and at + 1 < len(lines) else lines[-1]
                missing.append(f"{contract}: `lockstep ref mm --contract {contract}` failed in this build ({last[:160]})")
                break
            exact = a.astype(np.float64) @ b.astype(np.float64)
            u = ulps(np.load(f"{tmp}/y.npy"), exact)
            rows.setdefault(contract, []).append((k, float(np.median(u)), float(np.percentile(u, 90))))
            if contract == "fma-v1":  # numpy's own f32 matmul (the BLAS it links) on the same inputs
                u = ulps(a @ b, exact)
                rows.setdefault("numpy f32 (BLAS)", []).append((k, float(np.median(u)), float(np.percentile(u, 90))))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, r in rows.items():
        ax.plot([x[0] for x in r], [x[2] for x in r], marker="o", label=f"{name}, 90th percentile")
        ax.plot([x[0] for x in r], [x[1] for x in r], marker=".", linestyle="--", label=f"{name}, median")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("K (inner dimension)")
    ax.set_ylabel("error in f32 ulps vs f64")
    ax.set_title(f"C = A·B, A {m}×K, B K×{n}, uniform [-1, 1), {m * n} elements per K")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(GEN, "ulps.svg"))
    plt.close(fig)
    md = ["| result | K | median ulps | 90th percentile |", "| --- | ---: | ---: | ---: |"]
    for name, r in rows.items():
        md += [f"| {name} | {k} | {med:.2f} | {p90:.2f} |" for k, med, p90 in r]
    md += [""] + [f"*Not plotted:* {x}." for x in missing]
    write("ulps.md", "\n".join(md) + "\n")


def bench():
    """`lockstep bench --cpu` as a bar chart and a table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    js = os.path.join(GEN, "bench.json")
    args = ["bench", "--cpu", "--runs", "3", "--max-m", "512", "--json", js]
    _, out = run([LOCKSTEP] + args)
    rows = json.load(open(js))
    write("bench.txt", f"$ {shown([LOCKSTEP] + args[:-2])}\n{out}")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["ours_gflops"] for r in rows], 0.4, label="lockstep fast path (fma-v1, bitwise = reference)")
    ax.bar(x + 0.2, [r["matrixmultiply_gflops"] for r in rows], 0.4, label="matrixmultiply sgemm (no order guarantee)")
    ax.set_xticks(x, [f"{r['m']}×{r['k']}×{r['n']}" for r in rows])
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"f32 matmul on this machine's CPU ({os.cpu_count()} threads), median of 3")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(GEN, "bench.svg"))
    plt.close(fig)


def gpu_data():
    """Quotes docs/book/data/gpu-*.json (written by scripts/gpu-book-data.py on a GPU
    machine); a placeholder where none is present, never a number typed in."""
    files = sorted(glob.glob(os.path.join(BOOK, "data", "gpu-*.json")))
    runs = [json.load(open(f)) | {"_file": os.path.relpath(f, ROOT)} for f in files]
    missing = (
        "> **Not yet measured.** No `docs/book/data/gpu-*.json` is in this checkout. On a machine with a CUDA GPU, "
        "PyTorch and Triton, run `python3 scripts/gpu-book-data.py` and commit the JSON it writes; the book quotes it.\n"
    )

    def provenance(r):
        return f"*Measured on {r['device']} ({r['torch']}), {r['date']}, by `{r['command']}`; stored in `{r['_file']}`.*\n"

    lin = [r for r in runs if "linspace" in r]
    if lin:
        r = lin[-1]
        rows = ["| library | dtype | max \\|mm(a[:1], b) − mm(a, b)[:1]\\| | elements of row 0 with other bits |", "| --- | --- | ---: | ---: |"]
        for x in r["linspace"]:
            rows.append(f"| {x['library']} | {x['dtype']} | {x['max_abs_diff']} | {x['row_bits_differ']} |")
        write("gpu-linspace.md", provenance(r) + "\n" + "\n".join(rows) + "\n")
    else:
        write("gpu-linspace.md", missing)
    mma = [r for r in runs if "mma" in r]
    if mma:
        write("gpu-mma.md", provenance(mma[-1]) + "\n" + mma_table(mma[-1]["mma"]))
    else:
        write("gpu-mma.md", missing)
    tri = [r for r in runs if "triton" in r]
    if tri:
        r = tri[-1]
        t = r["triton"]
        if "error" in t:
            write("gpu-triton.md", provenance(r) + f"\nThe Triton part did not run: `{t['error']}`\n")
        else:
            rows = ["| kernel | golden case | elements differing | first difference |", "| --- | --- | ---: | --- |"]
            for x in t["kernels"]:
                rows.append(f"| {x['kernel']} | `{x['case']}` | {x['mismatches']} of {x['elements']} | {x['first'] or '—'} |")
            write("gpu-triton.md", provenance(r) + "\n" + "\n".join(rows) + "\n")
    else:
        write("gpu-triton.md", missing)


def gpu_conform():
    """Chapter 8's GPU report: the newest run in docs/gpu-runs/ (by the bundle's build time)
    whose `lockstep conform` step passed, cut to its GPU lines; a placeholder where none is
    committed."""
    best = None
    for d in glob.glob(os.path.join(ROOT, "docs", "gpu-runs", "*")):
        dev, summ, log = (os.path.join(d, f) for f in ("device.txt", "summary.txt", "conform.log"))
        if not all(os.path.exists(f) for f in (dev, summ, log)) or "PASS lockstep conform" not in open(summ).read():
            continue
        built = next((ln.split(": ", 1)[1].strip() for ln in open(dev) if ln.startswith("built: ")), "")
        commit = next((ln.split(": ", 1)[1][:7] for ln in open(dev) if ln.startswith("commit: ")), "?")
        if best is None or built > best[0]:
            best = (built, commit, d, log)
    if best is None:
        write("conform-gpu.txt", "(no GPU run is committed under docs/gpu-runs/ in this checkout)\n")
        write("conform-gpu-source.md", "")
        return
    built, commit, d, log = best
    keep = []
    for line in open(log).read().splitlines():
        if line.startswith(("cpu-literal", "cpu-fast")):
            continue  # the CPU rows are shown above
        keep.append(line)
    write("conform-gpu.txt", "\n".join(keep) + "\n")
    write("conform-gpu-source.md", f"*`bash bundle/run-all` at commit {commit} (bundle built {built}); the whole log is "
          f"[`{os.path.relpath(log, ROOT)}`](../../../{os.path.relpath(log, ROOT)}), CPU rows left out here.*\n")


def mma_table(x):
    """Chapter 6: the GPU's bf16 products (stored bits) against `lockstep ref mm --contract
    mma-sm90-v1` run here on the same inputs."""
    if "error" in x:
        return f"The tensor-core part did not run on the GPU: `{x['error']}`\n"
    z = np.load(os.path.join(BOOK, "data", x["file"]))
    tmp = os.path.join(GEN, "mma")
    os.makedirs(tmp, exist_ok=True)
    np.save(f"{tmp}/a.npy", z["a"]), np.save(f"{tmp}/b.npy", z["b"])
    ref = {}
    for od in ("f32", "bf16"):
        args = ["ref", "mm", "--contract", "mma-sm90-v1", "--a", f"{tmp}/a.npy", "--b", f"{tmp}/b.npy", "--in-dtype", "bf16", "--out-dtype", od, "-o", f"{tmp}/ref-{od}.npy"]
        p = subprocess.run([LOCKSTEP] + args, cwd=ROOT, capture_output=True, text=True)
        if p.returncode != 0:
            return f"*Not compared:* `lockstep ref mm --contract mma-sm90-v1` failed in this build.\n"
        y = np.load(f"{tmp}/ref-{od}.npy")
        ref[od] = y.view(np.uint32) if od == "f32" else y
    m, k, n = x["shape"]
    rows = [f"A {m}×{k}, B {k}×{n}, bf16 inputs; each output compared bit for bit with `lockstep ref mm --contract mma-sm90-v1` on this machine.", "",
            "| kernel | elements | differing from mma-sm90-v1 |", "| --- | ---: | ---: |"]
    for kern in x["kernels"]:
        got = z[kern["key"]]
        want = ref[kern["out_dtype"]][: kern["rows"]]
        rows.append(f"| {kern['kernel']} | {want.size} | {int((got != want).sum())} |")
    return "\n".join(rows) + "\n"


def main():
    os.makedirs(GEN, exist_ok=True)
    if not os.path.exists(os.path.join(ROOT, "golden", "manifest.json")):
        sys.exit("book: golden/manifest.json is missing; the chapters check against the golden files")
    trees()
    _, conform = command_output("conform-fma-v1-cpu-fast", ["conform", "--contract", "fma-v1", "--backend", "cpu-fast"])
    # Chapter 8 explains every family of checks in a table: fail when the suite grows one it lacks.
    ch08 = open(os.path.join(BOOK, "src", "ch08-conformance.md")).read()
    families = {w for line in conform.splitlines() for w in line.split() if w in ("golden", "batch-invariance") or w.startswith("vs-ref:")}
    undocumented = sorted(f for f in families if f"`{f}`" not in ch08)
    if not families or undocumented:
        sys.exit(f"book: chapter 8 does not explain these families of `lockstep conform`: {undocumented or 'none found in the output'}")
    snippets()
    # lockstep's own report on the outputs the chapter 7 snippet wrote (one kernel passes, one fails).
    for kernel, want in [("pass", 0), ("split-k", 1)]:
        code, _ = command_output(
            f"ch07-verify-{kernel}",
            ["golden", "verify", "--outputs", f"docs/book/src/generated/ch07-outputs/{kernel}", "--filter", "fma-v1/mm/f32_f32/m4_k515_n12/"],
            ok=(0, 1),
        )
        if code != want:  # the chapter says one passes and one fails: hold it to that
            sys.exit(f"book: `lockstep golden verify` on the {kernel} kernel exited {code}; chapter 7 says {want}")
    ulps_vs_f64()
    bench()
    gpu_data()
    gpu_conform()
    write("stamp.md", f"*Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by `scripts/build-book`.*\n")
    print(f"book: generated {len(os.listdir(GEN))} files in {os.path.relpath(GEN, ROOT)}")


if __name__ == "__main__":
    main()
