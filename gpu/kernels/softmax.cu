// softmax and log_softmax over the last dimension (docs/spec/softmax.md; Rust:
// reference/src/softmax.rs). One block per row of width H:
//   1. m = lane tree of max2;  2. d_i = x_i - m;  3. e_i = exp(d_i) (ls_exp);
//   4. s = lane tree of sums of e_i;
//   5. softmax: y_i = e_i / s; log_softmax: y_i = d_i - log(s) (ls_log, once per row);
//   6. round to O. e_i and d_i are recomputed, not stored: the same operations, the same bits.

template <typename T, typename O>
__device__ __forceinline__ void ls_softmax(const T* __restrict__ x, O* __restrict__ y, int H, int log_form) {
    __shared__ float sh[LS_LANES];
    const long long base = (long long)blockIdx.x * H;
    const T* xr = x + base;
    const float m = ls_lane_reduce<LsMax>([&](long long i) { return ls_to_f32(xr[i]); }, H, sh);
    const float s = ls_lane_reduce<LsSum>([&](long long i) { return ls_exp(__fsub_rn(ls_to_f32(xr[i]), m)); }, H, sh);
    if (log_form) {
        const float ls = ls_log(s);
        for (int i = threadIdx.x; i < H; i += blockDim.x) y[base + i] = ls_from_f32<O>(__fsub_rn(__fsub_rn(ls_to_f32(xr[i]), m), ls));
    } else {
        for (int i = threadIdx.x; i < H; i += blockDim.x) y[base + i] = ls_from_f32<O>(__fdiv_rn(ls_exp(__fsub_rn(ls_to_f32(xr[i]), m)), s));
    }
}

#define LS_SOFTMAX_KERNEL(SUFFIX, T, O)                                                                                        \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS) softmax_##SUFFIX(const T* x, O* y, int H, int log_form) { \
        ls_softmax<T, O>(x, y, H, log_form);                                                                                   \
    }
LS_FOR_ALL_PAIRS(LS_SOFTMAX_KERNEL)
