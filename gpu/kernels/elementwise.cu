// Elementwise ops (docs/spec/elementwise.md; Rust: reference/src/elementwise/): widen
// exactly, apply the function of elementwise.cuh, round once to O. The op codes
// LS_UNARY_* are generated from `lockstep_reference::elementwise::Unary` (kernels.rs).

#ifndef LS_UNARY_GELU
#error "LS_UNARY_* are not defined: compile through gpu/src/kernels.rs (generated header)"
#endif

__device__ __forceinline__ float ls_unary(int op, float x) {
    switch (op) {
        case LS_UNARY_EXP: return ls_exp(x);
        case LS_UNARY_LOG: return ls_log(x);
        case LS_UNARY_RSQRT: return ls_rsqrt(x);
        case LS_UNARY_TANH: return ls_tanh(x);
        case LS_UNARY_SIGMOID: return ls_sigmoid(x);
        case LS_UNARY_SILU: return ls_silu(x);
        case LS_UNARY_GELU: return ls_gelu(x);
        default: return __uint_as_float(0x7fc00000u);  // unreachable: the launcher passes Unary codes only
    }
}

#define LS_UNARY_KERNEL(SUFFIX, T, O)                                                                      \
    extern "C" __global__ void unary_##SUFFIX(const T* x, O* y, long long n, int op) {                    \
        const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;                            \
        if (i < n) y[i] = ls_from_f32<O>(ls_unary(op, ls_to_f32(x[i])));                                \
    }
LS_FOR_ALL_PAIRS(LS_UNARY_KERNEL)
