// sum and mean over the last dimension (docs/spec/mean.md; Rust: reference/src/mean.rs):
// s = lane tree of (acc + x_i); sum: y = s; mean: y = s / H; rounded to O. One block per row.

template <typename T, typename O>
__device__ __forceinline__ void ls_mean(const T* __restrict__ x, O* __restrict__ y, int H, int divide) {
    __shared__ float sh[LS_LANES];
    const T* xr = x + (long long)blockIdx.x * H;
    const float s = ls_lane_reduce<LsSum>([&](long long i) { return ls_to_f32(xr[i]); }, H, sh);
    if (threadIdx.x == 0) y[blockIdx.x] = ls_from_f32<O>(divide ? __fdiv_rn(s, __int2float_rn(H)) : s);
}

#define LS_MEAN_KERNEL(SUFFIX, T, O)                                                                                               \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS) mean_##SUFFIX(const T* x, O* y, int H, int divide) { \
        ls_mean<T, O>(x, y, H, divide);                                                                                            \
    }
LS_FOR_ALL_PAIRS(LS_MEAN_KERNEL)
