// softmax and log_softmax over the last dimension (docs/spec/softmax.md; Rust:
// reference/src/softmax.rs). Per row of width H:
//   1. m = lane tree of max2;  2. d_i = x_i - m;  3. e_i = exp(d_i) (ls_exp);
//   4. s = lane tree of sums of e_i;
//   5. softmax: y_i = e_i / s; log_softmax: y_i = d_i - log(s) (ls_log, once per row);
//   6. round to O. d_i is recomputed, not stored: the same operations, the same bits. e_i
//      too, except for softmax of f32 input with a slice cache, where pass 4 writes e_i over
//      x_i in the cache and pass 5 reads it back (one exp per element instead of two).
// Row engine of reduce.cuh: with a slice cache, x is read from DRAM once for all three passes
// (asynchronous copies into the cache, all in flight at once).

// Step 5 of softmax, y_i = e_i / s: the IEEE quotient (the spec's division, bit for bit), for
// a divisor that every element of the row shares. `__fdiv_rn` is a subroutine of about ten
// instructions with a range check; with y = RN(1/s) computed once per row, the quotient is
//   q0 = RN(v * y), r = fma(-s, q0, v) (exact), q = fma(r, y, q0) = RN(v / s)
// (Markstein's correction step; one multiplication and two fmas), wherever no step leaves the
// normal range: s in [1, 2^32), v in [2^-64, 2^64]. Every other pair takes `__fdiv_rn` (and
// v = ±0 returns itself: ±0 / s = ±0 for s >= 1). Checked on the CPU over all 2^23
// significands of v against worst-case and random divisors (gpu/emu/harness.cpp `ls_div`).
struct LsDivisor {
    float s, y;
    bool fast;
};
__device__ __forceinline__ LsDivisor ls_divisor(float s) { return {s, __frcp_rn(s), s >= 1.0f && s < 0x1p32f}; }
// Whether the three steps give v / s for this v (with d.fast): the range above, or v = +0
// (q0 = +0, r = +0, q = +0; -0 would come out +0, so it takes the other path).
__device__ __forceinline__ bool ls_div_fits(float v) { return ((v >= 0x1p-64f) & (v <= 0x1p64f)) | (__float_as_uint(v) == 0u); }
__device__ __forceinline__ float ls_div_fast(float v, const LsDivisor& d) {
    const float q0 = __fmul_rn(v, d.y);
    return __fmaf_rn(__fmaf_rn(-d.s, q0, v), d.y, q0);
}
__device__ __forceinline__ float ls_div(float v, const LsDivisor& d) {
    if (d.fast) {
        if (v >= 0x1p-64f && v <= 0x1p64f) return ls_div_fast(v, d);
        if (v == 0.0f) return v;
    }
    return __fdiv_rn(v, d.s);
}

// LOG: log_softmax. A template argument, not a run-time flag: each form is its own kernel.
template <typename T, typename O, bool LOG>
__device__ __forceinline__ void ls_softmax(const T* __restrict__ x, O* __restrict__ y, int H) {
    const LsRow R = ls_row_begin(H, sizeof(T));
    const T* xr = x + R.row * H;
    O* yr = y + R.row * H;
    T* cache = reinterpret_cast<T*>(R.cache);
    const bool vx = ls_aligned4(xr), vy = ls_aligned4(yr);
    if (cache) ls_row_fill(R, xr, cache);
    auto get = [&](long long j, int o, int n, float v[4]) {
        if (cache) ls_ld4(cache + j * R.lc + o, n, true, v);
        else ls_ld4(xr + j * LS_LANES + R.lb + o, n, vx, v);
    };
    const float m = ls_row_reduce<LsMax>(R, get);
    // Pass 4 with a slice cache: e_i computed by every thread a quad at a time, then folded
    // from shared memory (ls_row_reduce_staged): softmax of f32 writes them over x_i in the
    // cache, where pass 5 reads them; the others into the staging buffer, a group of chunks
    // at a time. Without a cache, each lane computes its own as it folds.
    float* const ecache = sizeof(T) == sizeof(float) && cache && !LOG ? reinterpret_cast<float*>(cache) : nullptr;
    const auto exps = [&](long long k, long long, int n, float v[4]) {
        ls_ld4(cache + k, n, true, v);
        LS_FOR4(q, n) v[q] = ls_exp(__fsub_rn(v[q], m));
    };
    const float s = ecache    ? ls_row_reduce_staged<LsSum>(R, ecache, R.nchunk, exps)
                    : R.stage ? ls_row_reduce_staged<LsSum>(R, R.stage, R.stage_chunks, exps)
                              : ls_row_reduce<LsSum, 2>(R, [&](long long j, int o, int n, float v[4]) {
                                    get(j, o, n, v);
                                    LS_FOR4(q, n) v[q] = ls_exp(__fsub_rn(v[q], m));
                                });
    const float lg = LOG ? ls_log(s) : 0.0f;
    const LsDivisor ds = ls_divisor(s);
    ls_row_map<2>(
        R,
        [&](long long k, long long e, int n, float v[4]) {
            if (cache) ls_ld4(cache + k, n, true, v);  // e_i where ecache (the same bytes)
            else ls_ld4(xr + e, n, vx, v);
        },
        [&](long long, long long e, int n, const float v[4]) {
            float out[4];
            if (ecache) {  // v: e_i from pass 4; one range test for the group (softmax_regs)
                bool fits = ds.fast;
                LS_FOR4(q, n) fits = fits & ls_div_fits(v[q]);
                if (fits) {
                    LS_FOR4(q, n) out[q] = ls_div_fast(v[q], ds);
                } else {
                    LS_FOR4(q, n) out[q] = ls_div(v[q], ds);
                }
            } else {
                LS_FOR4(q, n) {
                    const float d = __fsub_rn(v[q], m);
                    out[q] = LOG ? __fsub_rn(d, lg) : ls_div(ls_exp(d), ds);
                }
            }
            ls_st4(yr + e, n, vy, out);
        });
}

// ---- The register engine (reduce.cuh `LsRegRow`): rows of at most Q quads per thread ----
// The row is read from DRAM once into registers, softmax keeps e_i over x_i (one exp per
// element), and no shared memory is used but the combine's exchange.
#ifdef LS_REG_ROWS
template <typename T, typename O, bool LOG, int Q>
__device__ __forceinline__ void ls_softmax_regs(const T* __restrict__ x, O* __restrict__ y, int H) {
    const LsRegRow<Q> P(H);
    float v[Q][4];
    P.load(x + (long long)blockIdx.x * H, v);
    const float m = P.template reduce<LsMax>([&](int f, int q) { return v[f][q]; });
    const float s = P.template reduce<LsSum>([&](int f, int q) {
        const float e = ls_exp(__fsub_rn(v[f][q], m));
        if (!LOG) v[f][q] = e;
        return e;
    });
    if (LOG) {
        const float lg = ls_log(s);
#pragma unroll
        for (int f = 0; f < Q; ++f) LS_FOR4(q, 4) v[f][q] = __fsub_rn(__fsub_rn(v[f][q], m), lg);  // every slot: store writes the row's
    } else {
        // One test for all of this thread's slots, then the quotients without a branch each
        // (ls_div's per-element range test cost a divergent branch and its convergence
        // barrier); the bits of ls_div either way. A slot past the row's end that does not
        // fit only sends this thread down the per-element path.
        const LsDivisor ds = ls_divisor(s);
        bool fits = ds.fast;
#pragma unroll
        for (int f = 0; f < Q; ++f) LS_FOR4(q, 4) fits = fits & ls_div_fits(v[f][q]);
        if (fits) {
#pragma unroll
            for (int f = 0; f < Q; ++f) LS_FOR4(q, 4) v[f][q] = ls_div_fast(v[f][q], ds);
        } else {
#pragma unroll
            for (int f = 0; f < Q; ++f) LS_FOR4(q, 4) v[f][q] = ls_div(v[f][q], ds);
        }
    }
    P.store(y + (long long)blockIdx.x * H, v);
}
#else
template <typename T, typename O, bool LOG, int Q> __device__ __forceinline__ void ls_softmax_regs(const T*, O*, int) { __trap(); }
#endif

// `softmax_*` / `log_softmax_*`: one CTA per row; `*_wide_*`: a cluster per row on sm_90, of
// the size given at launch (ops/rowplan.rs). One kernel per form, so each gets the registers of
// its own loop (measured: sharing a kernel cost log_softmax up to 8 %, docs/perf.md).
#define LS_SOFTMAX_KERNEL(SUFFIX, T, O)                                                                                    \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS) softmax_##SUFFIX(const T* x, O* y, int H) {           \
        ls_softmax<T, O, false>(x, y, H);                                                                                  \
    }                                                                                                                      \
    extern "C" __global__ void LS_ROW_WIDE_ATTR softmax_wide_##SUFFIX(const T* x, O* y, int H) {                           \
        ls_softmax<T, O, false>(x, y, H);                                                                                  \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS) log_softmax_##SUFFIX(const T* x, O* y, int H) {       \
        ls_softmax<T, O, true>(x, y, H);                                                                                   \
    }                                                                                                                      \
    extern "C" __global__ void LS_ROW_WIDE_ATTR log_softmax_wide_##SUFFIX(const T* x, O* y, int H) {                       \
        ls_softmax<T, O, true>(x, y, H);                                                                                   \
    }
LS_FOR_ALL_PAIRS(LS_SOFTMAX_KERNEL)

// `softmax_regs_*` / `log_softmax_regs_*`: the register engine, one CTA per row, up to
// LS_ROW_REG_QUADS quads per thread, registers bounded for 3 CTAs per SM (80: unbounded,
// NVRTC's code takes 107, 2 CTAs; 4 CTAs spill). `*_regs4_*`: up to half as many quads,
// registers for 4 CTAs per SM.
#define LS_SOFTMAX_REGS_KERNEL(SUFFIX, T, O)                                                                                  \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS, 3) softmax_regs_##SUFFIX(const T* x, O* y, int H) {      \
        ls_softmax_regs<T, O, false, LS_ROW_REG_QUADS>(x, y, H);                                                              \
    }                                                                                                                         \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS, 3) log_softmax_regs_##SUFFIX(const T* x, O* y, int H) {  \
        ls_softmax_regs<T, O, true, LS_ROW_REG_QUADS>(x, y, H);                                                               \
    }                                                                                                                         \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS, 4) softmax_regs4_##SUFFIX(const T* x, O* y, int H) {     \
        ls_softmax_regs<T, O, false, LS_ROW_REG_QUADS / 2>(x, y, H);                                                          \
    }                                                                                                                         \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS, 4) log_softmax_regs4_##SUFFIX(const T* x, O* y, int H) { \
        ls_softmax_regs<T, O, true, LS_ROW_REG_QUADS / 2>(x, y, H);                                                           \
    }
LS_FOR_ALL_PAIRS(LS_SOFTMAX_REGS_KERNEL)
