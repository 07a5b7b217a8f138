// softmax and log_softmax over the last dimension (docs/spec/softmax.md; Rust:
// reference/src/softmax.rs). Per row of width H:
//   1. m = lane tree of max2;  2. d_i = x_i - m;  3. e_i = exp(d_i) (ls_exp);
//   4. s = lane tree of sums of e_i;
//   5. softmax: y_i = e_i / s; log_softmax: y_i = d_i - log(s) (ls_log, once per row);
//   6. round to O. d_i is recomputed, not stored: the same operations, the same bits. e_i
//      too, except for softmax of f32 input with a slice cache, where pass 4 writes e_i over
//      x_i in the cache and pass 5 reads it back (one exp per element instead of two).
// Row engine of reduce.cuh: with a slice cache, x is read from DRAM once for all three passes.

// LOG: log_softmax. A template argument, not a run-time flag: each form is its own kernel.
template <typename T, typename O, bool LOG>
__device__ __forceinline__ void ls_softmax(const T* __restrict__ x, O* __restrict__ y, int H) {
    const LsRow R = ls_row_begin(H, sizeof(T));
    const T* xr = x + R.row * H;
    O* yr = y + R.row * H;
    T* cache = reinterpret_cast<T*>(R.cache);
    const bool vx = ls_aligned4(xr), vy = ls_aligned4(yr);
    if (cache) {
        ls_row_map(
            R, [&](long long, long long e, int n, float v[4]) { ls_ld4(xr + e, n, vx, v); },
            [&](long long k, long long, int n, const float v[4]) { ls_st4(cache + k, n, true, v); });
        __syncthreads();
    }
    auto get = [&](long long j, int o, int n, float v[4]) {
        if (cache) ls_ld4(cache + j * R.lc + o, n, true, v);
        else ls_ld4(xr + j * LS_LANES + R.lb + o, n, vx, v);
    };
    const float m = ls_row_reduce<LsMax>(R, get);
    // Each cache entry is read and rewritten by the one thread that folds it; the reduction's
    // barriers order these writes before pass 5's reads by other threads.
    float* const ecache = sizeof(T) == sizeof(float) && cache && !LOG ? reinterpret_cast<float*>(cache) : nullptr;
    const float s = ls_row_reduce<LsSum, 2>(R, [&](long long j, int o, int n, float v[4]) {
        get(j, o, n, v);
        LS_FOR4(q, n) v[q] = ls_exp(__fsub_rn(v[q], m));
        if (ecache) ls_st4(ecache + j * R.lc + o, n, true, v);
    });
    const float lg = LOG ? ls_log(s) : 0.0f;
    ls_row_map<2>(
        R,
        [&](long long k, long long e, int n, float v[4]) {
            if (ecache) ls_ld4(ecache + k, n, true, v);
            else if (cache) ls_ld4(cache + k, n, true, v);
            else ls_ld4(xr + e, n, vx, v);
        },
        [&](long long, long long e, int n, const float v[4]) {
            float out[4];
            if (ecache) {
                LS_FOR4(q, n) out[q] = __fdiv_rn(v[q], s);  // v: e_i from pass 4
            } else {
                LS_FOR4(q, n) {
                    const float d = __fsub_rn(v[q], m);
                    out[q] = LOG ? __fsub_rn(d, lg) : __fdiv_rn(ls_exp(d), s);
                }
            }
            ls_st4(yr + e, n, vy, out);
        });
}

// ---- The register engine: rows of at most LS_ROW_REG_QUADS quads per thread --------------
// One CTA of LS_ROW_THREADS per row, the lanes laid out as in the warp engine with R = all
// LS_ROW_THREADS / 32 warps of the CTA: lane l = 4t + q + 128g, g = w + R·i, where slot i < G
// = L / (4·LS_ROW_THREADS); quad f = j·G + i of a thread holds elements j·L + 4·(threadIdx.x
// + LS_ROW_THREADS·i) … + 3 of chunk j. The whole row is loaded into registers at once (all
// loads in flight), every pass reads it there, and softmax keeps e_i over x_i: x is read
// from DRAM once, one exp per element, no shared memory but the combine's exchange. Each
// lane's chain still runs over j in order, so these are the bits of every other engine.
// The launcher (ops/rowplan.rs `regs_kernel`) uses it where L is a multiple of
// 4·LS_ROW_THREADS and a thread holds at most Q quads (Q = LS_ROW_REG_QUADS, or half of it
// in the `_regs4` kernels); elsewhere it is never launched (it traps if L does not fit).
#if LS_LANES % (4 * LS_ROW_THREADS) == 0
#define LS_REG_G (LS_LANES / (4 * LS_ROW_THREADS))
template <typename T, typename O, bool LOG, int Q>
__device__ __forceinline__ void ls_softmax_regs(const T* __restrict__ x, O* __restrict__ y, int H) {
    constexpr int R = LS_ROW_THREADS / 32, G = LS_REG_G;
    static_assert(Q % G == 0, "whole chunks per thread");
    __shared__ __align__(16) float xch[(R > 1 ? R - 1 : 1) * 32 * 4];
    __shared__ float bc;
    const int t = (int)threadIdx.x % 32, w = (int)threadIdx.x / 32;
    const T* xr = x + (long long)blockIdx.x * H;
    O* yr = y + (long long)blockIdx.x * H;
    const bool vx = ls_aligned4(xr), vy = ls_aligned4(yr);
    float v[Q][4];
    int n[Q];
#pragma unroll
    for (int f = 0; f < Q; ++f) {
        const int e = (f / G) * LS_LANES + 4 * ((int)threadIdx.x + LS_ROW_THREADS * (f % G));
        n[f] = e < H ? min(4, H - e) : 0;
        if (n[f] > 0) ls_ld4(xr + e, n[f], vx, v[f]);
    }
    float acc[G][4];
#pragma unroll
    for (int i = 0; i < G; ++i) LS_FOR4(q, 4) acc[i][q] = LsMax::identity();
#pragma unroll
    for (int f = 0; f < Q; ++f) LS_FOR4(q, n[f]) acc[f % G][q] = LsMax::fold(acc[f % G][q], v[f][q]);
    const float m = ls_quad_combine<LsMax, R, G>(acc, xch, &bc, w, t);
#pragma unroll
    for (int i = 0; i < G; ++i) LS_FOR4(q, 4) acc[i][q] = LsSum::identity();
#pragma unroll
    for (int f = 0; f < Q; ++f)
        LS_FOR4(q, n[f]) {
            const float e = ls_exp(__fsub_rn(v[f][q], m));
            acc[f % G][q] = LsSum::fold(acc[f % G][q], e);
            if (!LOG) v[f][q] = e;
        }
    const float s = ls_quad_combine<LsSum, R, G>(acc, xch, &bc, w, t);
    const float lg = LOG ? ls_log(s) : 0.0f;
#pragma unroll
    for (int f = 0; f < Q; ++f) {
        if (n[f] == 0) continue;
        float out[4];
        LS_FOR4(q, n[f]) out[q] = LOG ? __fsub_rn(__fsub_rn(v[f][q], m), lg) : __fdiv_rn(v[f][q], s);
        ls_st4(yr + (f / G) * LS_LANES + 4 * ((int)threadIdx.x + LS_ROW_THREADS * (f % G)), n[f], vy, out);
    }
}
#else
template <typename T, typename O, bool LOG, int Q> __device__ __forceinline__ void ls_softmax_regs(const T*, O*, int) { __trap(); }
#endif

// `softmax_*` / `log_softmax_*`: one CTA per row; `*_wide_*`: a cluster of LS_ROW_CLUSTER
// CTAs per row on sm_90 (one CTA before). One kernel per form, so each gets the registers of
// its own loop (measured: sharing a kernel cost log_softmax up to 8 %, docs/perf.md).
#define LS_SOFTMAX_KERNEL(SUFFIX, T, O)                                                                                    \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS) softmax_##SUFFIX(const T* x, O* y, int H) {           \
        ls_softmax<T, O, false>(x, y, H);                                                                                  \
    }                                                                                                                      \
    extern "C" __global__ void LS_ROW_CLUSTER_ATTR __launch_bounds__(LS_ROW_THREADS) softmax_wide_##SUFFIX(const T* x, O* y, int H) { \
        ls_softmax<T, O, false>(x, y, H);                                                                                  \
    }                                                                                                                      \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS) log_softmax_##SUFFIX(const T* x, O* y, int H) {       \
        ls_softmax<T, O, true>(x, y, H);                                                                                   \
    }                                                                                                                      \
    extern "C" __global__ void LS_ROW_CLUSTER_ATTR __launch_bounds__(LS_ROW_THREADS) log_softmax_wide_##SUFFIX(const T* x, O* y, int H) { \
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
