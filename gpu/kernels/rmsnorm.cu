// RMSNorm, with and without a fused residual add (docs/spec/rmsnorm.md; Rust:
// reference/src/rmsnorm.rs). One block of LS_ROW_THREADS threads per row of width H:
//   1. (residual form) h_i = round_T(x_i + r_i), returned as the new residual stream;
//   2. ss = lane tree of fma(h_i, h_i, acc);
//   3. ms = ss / H;  4. r = rsqrt(ms + eps) (ls_rsqrt of elementwise.cuh);  5. y_i = (h_i * r) * w_i;  6. round to O.

template <typename T, typename O>
__device__ __forceinline__ void ls_rmsnorm(const T* __restrict__ x, const T* __restrict__ res, const T* __restrict__ w, O* __restrict__ y,
                                           T* __restrict__ h_out, int H, float eps) {
    __shared__ float sh[LS_LANES];
    const long long base = (long long)blockIdx.x * H;
    const T* xr = x + base;
    const T* rr = res ? res + base : nullptr;
    auto get = [&](long long i) -> float {
        if (rr) return ls_to_f32(ls_from_f32<T>(__fadd_rn(ls_to_f32(xr[i]), ls_to_f32(rr[i]))));
        return ls_to_f32(xr[i]);
    };
    const float ss = ls_lane_reduce<LsSumSq>(get, H, sh);
    const float ms = __fdiv_rn(ss, __int2float_rn(H));
    const float r = ls_rsqrt(__fadd_rn(ms, eps));
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        const float v = get(i);
        if (h_out) h_out[base + i] = ls_from_f32<T>(v);
        y[base + i] = ls_from_f32<O>(__fmul_rn(__fmul_rn(v, r), ls_to_f32(w[i])));
    }
}

// `res` and `h_out` are null for the plain form.
#define LS_RMSNORM_KERNEL(SUFFIX, T, O)                                                                                       \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS)                                                              \
        rmsnorm_##SUFFIX(const T* x, const T* res, const T* w, O* y, T* h_out, int H, float eps) {                            \
        ls_rmsnorm<T, O>(x, res, w, y, h_out, H, eps);                                                                        \
    }
LS_FOR_ALL_PAIRS(LS_RMSNORM_KERNEL)
