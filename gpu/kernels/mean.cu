// sum and mean over the last dimension (docs/spec/mean.md; Rust: reference/src/mean.rs):
// s = lane tree of (acc + x_i); sum: y = s; mean: y = s / H; rounded to O. One pass over
// the row (row engine of reduce.cuh, no cache); one CTA per row, or a cluster per row.

template <typename T, typename O>
__device__ __forceinline__ void ls_mean(const T* __restrict__ x, O* __restrict__ y, int H, int divide) {
    const LsRow R = ls_row_begin(H, 0);
    const T* xr = x + R.row * H;
    const bool vx = ls_aligned4(xr);
    const float s = ls_row_reduce<LsSum>(R, [&](long long j, int o, int n, float v[4]) { ls_ld4(xr + j * LS_LANES + R.lb + o, n, vx, v); });
    if (R.part == 0 && threadIdx.x == 0) y[R.row] = ls_from_f32<O>(divide ? __fdiv_rn(s, __int2float_rn(H)) : s);
}

#define LS_MEAN_KERNEL(SUFFIX, T, O)                                                                                               \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS) mean_##SUFFIX(const T* x, O* y, int H, int divide) { \
        ls_mean<T, O>(x, y, H, divide);                                                                                            \
    }                                                                                                                              \
    extern "C" __global__ void LS_ROW_WIDE_ATTR                                                                                    \
        mean_wide_##SUFFIX(const T* x, O* y, int H, int divide) {                                                                  \
        ls_mean<T, O>(x, y, H, divide);                                                                                            \
    }
LS_FOR_ALL_PAIRS(LS_MEAN_KERNEL)
