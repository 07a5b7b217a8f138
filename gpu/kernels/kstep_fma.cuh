// fma-v1's k-step (reference/src/matmul/kstep.rs, FmaStep): acc = fma(a_k, b_k, acc),
// one rounding per k. The matmul tree in matmul.cu calls only LS_KSTEP.
__device__ __forceinline__ float ls_kstep_fma(float a, float b, float acc) { return __fmaf_rn(a, b, acc); }
#define LS_KSTEP(a, b, acc) ls_kstep_fma((a), (b), (acc))
