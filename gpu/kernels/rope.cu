// Rotary position embedding, rotate-half layout (docs/spec/rope.md; Rust:
// reference/src/rope.rs). With c = cos[pos][i], s = sin[pos][i], a = x_i, b = x_{i+d/2}:
// y_i = (a*c) - (b*s) and y_{i+d/2} = (b*c) + (a*s), each product and sum rounded, no fma.
// The f32 tables come from the host (the reference's f64 libm tables), so both sides share them.

template <typename T, typename O>
__device__ __forceinline__ void ls_rope(const T* __restrict__ x, const long long* __restrict__ pos, const float* __restrict__ cos_t,
                                        const float* __restrict__ sin_t, O* __restrict__ y, int tokens, int heads, int d) {
    const int half = d / 2;
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)tokens * heads * half) return;
    const int i = (int)(idx % half);
    const long long th = idx / half;  // token * heads + head
    const long long t = th / heads;
    const long long base = th * d;
    const float c = cos_t[pos[t] * half + i], s = sin_t[pos[t] * half + i];
    const float a = ls_to_f32(x[base + i]), b = ls_to_f32(x[base + i + half]);
    y[base + i] = ls_from_f32<O>(__fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
    y[base + i + half] = ls_from_f32<O>(__fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
}

#define LS_ROPE_KERNEL(SUFFIX, T, O)                                                                                            \
    extern "C" __global__ void rope_##SUFFIX(const T* x, const long long* pos, const float* cos_t, const float* sin_t, O* y, \
                                             int tokens, int heads, int d) {                                                   \
        ls_rope<T, O>(x, pos, cos_t, sin_t, y, tokens, heads, d);                                                              \
    }
LS_FOR_ALL_PAIRS(LS_ROPE_KERNEL)
