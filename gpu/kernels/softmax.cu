// softmax and log_softmax over the last dimension (docs/spec/softmax.md; Rust:
// reference/src/softmax.rs). Per row of width H:
//   1. m = lane tree of max2;  2. d_i = x_i - m;  3. e_i = exp(d_i) (ls_exp);
//   4. s = lane tree of sums of e_i;
//   5. softmax: y_i = e_i / s; log_softmax: y_i = d_i - log(s) (ls_log, once per row);
//   6. round to O. e_i and d_i are recomputed, not stored: the same operations, the same bits.
// Row engine of reduce.cuh: with a slice cache, x is read from DRAM once for all three passes.

template <typename T, typename O>
__device__ __forceinline__ void ls_softmax(const T* __restrict__ x, O* __restrict__ y, int H, int log_form) {
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
    const float s = ls_row_reduce<LsSum, 2>(R, [&](long long j, int o, int n, float v[4]) {
        get(j, o, n, v);
        LS_FOR4(q, n) v[q] = ls_exp(__fsub_rn(v[q], m));
    });
    const float lg = log_form ? ls_log(s) : 0.0f;
    ls_row_map<2>(
        R,
        [&](long long k, long long e, int n, float v[4]) {
            if (cache) ls_ld4(cache + k, n, true, v);
            else ls_ld4(xr + e, n, vx, v);
        },
        [&](long long, long long e, int n, const float v[4]) {
            float out[4];
            LS_FOR4(q, n) {
                const float d = __fsub_rn(v[q], m);
                out[q] = log_form ? __fsub_rn(d, lg) : __fdiv_rn(ls_exp(d), s);
            }
            ls_st4(yr + e, n, vy, out);
        });
}

// `softmax_*`: one CTA per row; `softmax_wide_*`: a cluster of LS_ROW_CLUSTER CTAs per row
// on sm_90 (one CTA before).
#define LS_SOFTMAX_KERNEL(SUFFIX, T, O)                                                                                        \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS) softmax_##SUFFIX(const T* x, O* y, int H, int log_form) { \
        ls_softmax<T, O>(x, y, H, log_form);                                                                                   \
    }                                                                                                                          \
    extern "C" __global__ void LS_ROW_CLUSTER_ATTR __launch_bounds__(LS_ROW_THREADS)                                           \
        softmax_wide_##SUFFIX(const T* x, O* y, int H, int log_form) {                                                         \
        ls_softmax<T, O>(x, y, H, log_form);                                                                                   \
    }
LS_FOR_ALL_PAIRS(LS_SOFTMAX_KERNEL)

// The same steps on the warp engine of reduce.cuh. Buffers: x of rows k and k + 1 as
// stored (double buffered), then, for 16-bit T, one f32 work buffer (for f32 T the current
// x buffer is the work buffer). The work buffer receives x (f32) during the max, then holds
// d_i (log_softmax) or e_i (softmax) from step 4 on, so x is read once and every exp is
// computed once; the values are those of the steps above. Dynamic shared memory:
// ls_warp_smem_bytes(H, 2 * sizeof(T) + (sizeof(T) == 4 ? 0 : 4)).
template <typename T, typename O>
__device__ __forceinline__ void ls_softmax_warp(const T* __restrict__ x, O* __restrict__ y, int rows, int H, int log_form) {
    const LsWarpRow W = ls_warp_row(H);
    const int eb = sizeof(T);
    const bool wide = sizeof(T) == 4;
    if (ls_dyn_smem_bytes() < ls_warp_smem_bytes(H, 2 * eb + (wide ? 0 : 4))) __trap();  // the launch plan never does this
    auto fetch = [&](long long row, int b) {
        ls_warp_prefetch(W, b, x + row * H);
        ls_cp_async_commit();
    };
    if ((long long)blockIdx.x < rows) fetch(blockIdx.x, 0);
    int k = 0;
    for (long long row = blockIdx.x; row < rows; row += gridDim.x, ++k) {
        const int b = k & 1;
        if (row + gridDim.x < rows) fetch(row + gridDim.x, b ^ 1);
        else ls_cp_async_commit();  // an empty group keeps the count: wait for all but the newest
        ls_cp_async_wait<1>();
        O* yr = y + row * H;
        const bool vy = ls_aligned4(yr);
        // Work entries: buffer b itself (f32), else the third buffer (in units of 2-byte
        // elements: buffer 2 of f32 elements starts 4 units of 2 bytes in).
        auto work = [&](int j, int i) -> float4& { return wide ? W.at<float4>(b, 4, j, i) : W.at<float4>(2, 2, j, i); };
        const float m = ls_warp_reduce<LsMax>(W, [&](int j, int i, int, int, float v[4]) {
            ls_quad_widen(W.at<LsQuad<T>>(b, eb, j, i), v);
            if (!wide) work(j, i) = make_float4(v[0], v[1], v[2], v[3]);
        });
        const float s = ls_warp_reduce<LsSum>(W, [&](int j, int i, int, int n, float v[4]) {
            float4& c = work(j, i);
            float d[4] = {c.x, c.y, c.z, c.w};
            LS_FOR4(q, n) {
                d[q] = __fsub_rn(d[q], m);
                v[q] = ls_exp(d[q]);
                if (!log_form) d[q] = v[q];
            }
            c = make_float4(d[0], d[1], d[2], d[3]);
        });
        const float lg = log_form ? ls_log(s) : 0.0f;
        ls_warp_map(W, [&](int j, int i, int e, int n) {
            const float4 c = work(j, i);
            const float d[4] = {c.x, c.y, c.z, c.w};
            float out[4];
            LS_FOR4(q, n) out[q] = log_form ? __fsub_rn(d[q], lg) : __fdiv_rn(d[q], s);
            ls_st4(yr + e, n, vy, out);
        });
    }
}

// `softmax_warps_*`: the warp engine, persistent CTAs of LS_WARP_R warps (ops/rowplan.rs).
#define LS_SOFTMAX_WARP_KERNEL(SUFFIX, T, O)                                                                         \
    extern "C" __global__ void __launch_bounds__(LS_WARP_THREADS)                                                   \
        softmax_warps_##SUFFIX(const T* x, O* y, int H, int log_form, int rows) {                                   \
        ls_softmax_warp<T, O>(x, y, rows, H, log_form);                                                             \
    }
LS_FOR_ALL_PAIRS(LS_SOFTMAX_WARP_KERNEL)
