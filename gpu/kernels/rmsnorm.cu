// RMSNorm, with and without a fused residual add (docs/spec/rmsnorm.md; Rust:
// reference/src/rmsnorm.rs). Per row of width H:
//   1. (residual form) h_i = round_T(x_i + r_i), returned as the new residual stream;
//   2. ss = lane tree of fma(h_i, h_i, acc);
//   3. ms = ss / H;  4. r = rsqrt(ms + eps) (ls_rsqrt of elementwise.cuh);  5. y_i = (h_i * r) * w_i;  6. round to O.
// Row engine of reduce.cuh: with a slice cache, x (and r) are read once and h is kept in
// shared memory (h is exactly representable in T) for step 5; without, h is recomputed.
// The plain form fills the cache with asynchronous copies (h = x), all in flight at once.

// RES: the residual form, its own code path (as the register engine's), so that the plain
// form's kernel gets the registers of its own loops.
template <typename T, typename O, bool RES>
__device__ __forceinline__ void ls_rmsnorm_form(const T* __restrict__ x, const T* __restrict__ res, const T* __restrict__ w, O* __restrict__ y,
                                                T* __restrict__ h_out, int H, float eps) {
    const LsRow R = ls_row_begin(H, sizeof(T));
    const long long base = R.row * H;
    const T* xr = x + base;
    const T* rr = RES ? res + base : nullptr;
    T* hr = RES && h_out ? h_out + base : nullptr;
    O* yr = y + base;
    T* cache = reinterpret_cast<T*>(R.cache);
    const bool vx = ls_aligned4(xr) && (!rr || ls_aligned4(rr)) && (!hr || ls_aligned4(hr));
    const bool vy = ls_aligned4(yr), vw = ls_aligned4(w);
    // h of elements e … e+n−1, from global memory.
    auto load_h = [&](long long e, int n, float v[4]) {
        ls_ld4(xr + e, n, vx, v);
        if (rr) {
            float r4[4];
            ls_ld4(rr + e, n, vx, r4);
            LS_FOR4(q, n) v[q] = ls_to_f32(ls_from_f32<T>(__fadd_rn(v[q], r4[q])));
        }
    };
    if (cache && !rr) {
        ls_row_fill(R, xr, cache);
    } else if (cache) {
        ls_row_map(
            R, [&](long long, long long e, int n, float v[4]) { load_h(e, n, v); },
            [&](long long k, long long e, int n, const float v[4]) {
                ls_st4(cache + k, n, true, v);
                if (hr) ls_st4(hr + e, n, vx, v);
            });
        __syncthreads();
    }
    const float ss = ls_row_reduce<LsSumSq>(R, [&](long long j, int o, int n, float v[4]) {
        if (cache) ls_ld4(cache + j * R.lc + o, n, true, v);
        else load_h(j * LS_LANES + R.lb + o, n, v);
    });
    const float ms = __fdiv_rn(ss, __int2float_rn(H));
    const float r = ls_rsqrt(__fadd_rn(ms, eps));
    ls_row_map(
        R,
        [&](long long k, long long e, int n, float v[4]) {
            if (cache) ls_ld4(cache + k, n, true, v);
            else load_h(e, n, v);
        },
        [&](long long, long long e, int n, const float v[4]) {
            float wv[4], out[4];
            ls_ld4(w + e, n, vw, wv);
            LS_FOR4(q, n) out[q] = __fmul_rn(__fmul_rn(v[q], r), wv[q]);
            ls_st4(yr + e, n, vy, out);
            if (hr && !cache) ls_st4(hr + e, n, vx, v);
        });
}
template <typename T, typename O>
__device__ __forceinline__ void ls_rmsnorm(const T* __restrict__ x, const T* __restrict__ res, const T* __restrict__ w, O* __restrict__ y,
                                           T* __restrict__ h_out, int H, float eps) {
    if (res) ls_rmsnorm_form<T, O, true>(x, res, w, y, h_out, H, eps);
    else ls_rmsnorm_form<T, O, false>(x, nullptr, w, y, nullptr, H, eps);
}

// `res` and `h_out` are null for the plain form. `rmsnorm_*`: one CTA per row;
// `rmsnorm_wide_*`: a cluster per row on sm_90, of the size given at launch (ops/rowplan.rs).
#define LS_RMSNORM_KERNEL(SUFFIX, T, O)                                                                                       \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS)                                                              \
        rmsnorm_##SUFFIX(const T* x, const T* res, const T* w, O* y, T* h_out, int H, float eps) {                            \
        ls_rmsnorm<T, O>(x, res, w, y, h_out, H, eps);                                                                        \
    }                                                                                                                         \
    extern "C" __global__ void LS_ROW_WIDE_ATTR                                                                               \
        rmsnorm_wide_##SUFFIX(const T* x, const T* res, const T* w, O* y, T* h_out, int H, float eps) {                       \
        ls_rmsnorm<T, O>(x, res, w, y, h_out, H, eps);                                                                        \
    }
LS_FOR_ALL_PAIRS(LS_RMSNORM_KERNEL)

// The same steps on the warp engine of reduce.cuh. Buffers (elements of T): x of rows k and
// k + 1 (double buffered), then, in the residual form, r of both; h replaces x in place
// during the sum of squares, so x, r and w are each read once. Dynamic shared memory:
// ls_warp_smem_bytes(H, (res ? 4 : 2) * sizeof(T)).
template <typename T, typename O, bool Full>
__device__ __forceinline__ void ls_rmsnorm_warp(const T* __restrict__ x, const T* __restrict__ res, const T* __restrict__ w, O* __restrict__ y,
                                                T* __restrict__ h_out, int rows, int H, float eps) {
    const LsWarpRow W = ls_warp_row(H);
    if (ls_dyn_smem_bytes() < ls_warp_smem_bytes(H, (res ? 4 : 2) * (int)sizeof(T))) __trap();  // the launch plan never does this
    const bool vw = ls_aligned4(w);
    auto fetch = [&](long long row, int b) {
        ls_warp_prefetch<Full>(W, b, x + row * H);
        if (res) ls_warp_prefetch<Full>(W, b + 2, res + row * H);
        ls_cp_async_commit();
    };
    if ((long long)blockIdx.x < rows) fetch(blockIdx.x, 0);
    int k = 0;
    for (long long row = blockIdx.x; row < rows; row += gridDim.x, ++k) {
        const int b = k & 1;
        if (row + gridDim.x < rows) fetch(row + gridDim.x, b ^ 1);
        else ls_cp_async_commit();  // an empty group keeps the count: wait for all but the newest
        ls_cp_async_wait<1>();
        const long long base = row * H;
        T* hr = h_out ? h_out + base : nullptr;
        O* yr = y + base;
        const bool vh = hr && ls_aligned4(hr), vy = ls_aligned4(yr);
        const float ss = ls_warp_reduce<LsSumSq, Full>(W, [&](int j, int i, int e, int n, float v[4]) {
            LsQuad<T>& h = W.at<LsQuad<T>>(b, j, i);
            if (res) {
                float a[4], r4[4];
                ls_quad_widen(h, a);
                ls_quad_widen(W.at<LsQuad<T>>(b + 2, j, i), r4);
                LS_FOR4(q, 4) a[q] = __fadd_rn(a[q], r4[q]);
                h = ls_quad_narrow<T>(a);
            }
            ls_quad_widen(h, v);
            if (hr) ls_st4(hr + e, n, vh, v);
        });
        const float ms = __fdiv_rn(ss, __int2float_rn(H));
        const float r = ls_rsqrt(__fadd_rn(ms, eps));
        ls_warp_map<Full>(W, [&](int j, int i, int e, int n) {
            float v[4], wv[4], out[4];
            ls_quad_widen(W.at<LsQuad<T>>(b, j, i), v);
            ls_ld4(w + e, n, vw, wv);
            LS_FOR4(q, n) out[q] = __fmul_rn(__fmul_rn(v[q], r), wv[q]);
            ls_st4(yr + e, n, vy, out);
        });
    }
}

// The same steps on the register engine (reduce.cuh `LsRegRow`): the row is read into
// registers at once and h stays there as stored in T (exact: h is a T value; half the
// registers of floats for 16-bit types), widened where used; w too, loaded before the
// reduction so that its latency hides behind the combine (after it for f32 rows of the
// large kernel: registers). RES: the residual form, its own code path so that each form
// gets the registers of its own loop.
#ifdef LS_REG_ROWS
template <typename T, typename O, int Q, bool RES>
__device__ __forceinline__ void ls_rmsnorm_regs_form(const T* __restrict__ x, const T* __restrict__ res, const T* __restrict__ w,
                                                     O* __restrict__ y, T* __restrict__ h_out, int H, float eps) {
    const LsRegRow<Q> P(H);
    const long long base = (long long)blockIdx.x * H;
    LsQuad<T> hq[Q], wq[Q];
    P.load(x + base, hq);
    if (RES) {
        const bool vr = ls_aligned4(res + base);
#pragma unroll
        for (int f = 0; f < Q; ++f) {
            if (P.n[f] == 0) continue;  // past the row's end
            float a[4], b[4];
            ls_quad_widen(hq[f], a);
            ls_quad_widen(ls_quad_load(res + base + P.elem(f), P.n[f], vr), b);
            LS_FOR4(q, 4) a[q] = __fadd_rn(a[q], b[q]);
            hq[f] = ls_quad_narrow<T>(a);
        }
        P.store(h_out + base, hq);
    }
    // f32 rows (twice the registers) of the large kernel load w after the reduction.
    constexpr bool WPRE = sizeof(T) < 4 || Q <= LS_ROW_REG_QUADS / 2;
    if (WPRE) P.load(w, wq);
    const float ss = P.template reduce<LsSumSq>([&](int f, int q) {
        float a[4];
        ls_quad_widen(hq[f], a);
        return a[q];
    });
    const float ms = __fdiv_rn(ss, __int2float_rn(H));
    const float r = ls_rsqrt(__fadd_rn(ms, eps));
    const bool vy = ls_aligned4(y + base), vw = ls_aligned4(w);
#pragma unroll
    for (int f = 0; f < Q; ++f) {
        if (P.n[f] == 0) continue;
        float a[4], wv[4];
        ls_quad_widen(hq[f], a);
        ls_quad_widen(WPRE ? wq[f] : ls_quad_load(w + P.elem(f), P.n[f], vw), wv);
        LS_FOR4(q, P.n[f]) a[q] = __fmul_rn(__fmul_rn(a[q], r), wv[q]);
        ls_st4(y + base + P.elem(f), P.n[f], vy, a);
    }
}
template <typename T, typename O, int Q>
__device__ __forceinline__ void ls_rmsnorm_regs(const T* __restrict__ x, const T* __restrict__ res, const T* __restrict__ w, O* __restrict__ y,
                                                T* __restrict__ h_out, int H, float eps) {
    if (res) ls_rmsnorm_regs_form<T, O, Q, true>(x, res, w, y, h_out, H, eps);
    else ls_rmsnorm_regs_form<T, O, Q, false>(x, nullptr, w, y, nullptr, H, eps);
}
#else
template <typename T, typename O, int Q>
__device__ __forceinline__ void ls_rmsnorm_regs(const T*, const T*, const T*, O*, T*, int, float) { __trap(); }
#endif

// `rmsnorm_regs_*`: the register engine, one CTA per row, up to LS_ROW_REG_QUADS quads per
// thread; `rmsnorm_regs4_*`: up to half as many. Launch bounds as softmax's register kernels.
#define LS_RMSNORM_REGS_KERNEL(SUFFIX, T, O)                                                                                \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS, 3)                                                         \
        rmsnorm_regs_##SUFFIX(const T* x, const T* res, const T* w, O* y, T* h_out, int H, float eps) {                     \
        ls_rmsnorm_regs<T, O, LS_ROW_REG_QUADS>(x, res, w, y, h_out, H, eps);                                               \
    }                                                                                                                       \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS, 4)                                                         \
        rmsnorm_regs4_##SUFFIX(const T* x, const T* res, const T* w, O* y, T* h_out, int H, float eps) {                    \
        ls_rmsnorm_regs<T, O, LS_ROW_REG_QUADS / 2>(x, res, w, y, h_out, H, eps);                                           \
    }
LS_FOR_ALL_PAIRS(LS_RMSNORM_REGS_KERNEL)

// `rmsnorm_warps_*`: the warp engine, persistent CTAs of LS_WARP_R warps (ops/rowplan.rs).
#define LS_RMSNORM_WARP_KERNEL(SUFFIX, T, O)                                                                           \
    extern "C" __global__ void __launch_bounds__(LS_WARP_THREADS)                                                     \
        rmsnorm_warps_##SUFFIX(const T* x, const T* res, const T* w, O* y, T* h_out, int H, float eps, int rows) {   \
        if (H % LS_LANES == 0) ls_rmsnorm_warp<T, O, true>(x, res, w, y, h_out, rows, H, eps);                      \
        else ls_rmsnorm_warp<T, O, false>(x, res, w, y, h_out, rows, H, eps);                                         \
    }
LS_FOR_ALL_PAIRS(LS_RMSNORM_WARP_KERNEL)
