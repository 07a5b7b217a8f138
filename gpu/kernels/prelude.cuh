// lockstep prelude: storage types, exact conversions, and the check that the generated
// contract header came first. Compiled only through gpu/src/kernels.rs, which places the
// header generated from the Rust `Contract` ahead of this file.
//
// Every arithmetic step in these kernels is an explicitly rounded intrinsic (__fmaf_rn,
// __fadd_rn, __fmul_rn, __fdiv_rn, __fsqrt_rn), so no compiler option can contract or
// reassociate it; the options in kernels.rs (--fmad=false, no FTZ, IEEE div/sqrt) cover
// anything written as a plain operator.

#ifndef LS_KC
#error "LS_KC is not defined: compile through gpu/src/kernels.rs (generated contract header)"
#endif
#ifndef LS_LANES
#error "LS_LANES is not defined: compile through gpu/src/kernels.rs (generated contract header)"
#endif
#ifndef LS_ROW_THREADS
#error "LS_ROW_THREADS is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
#ifndef LS_MM_BM
#error "LS_MM_BM is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif

// 16-bit storage types are carried as their bits; no cuda_fp16.h / cuda_bf16.h needed.
struct ls_bf16 { unsigned short bits; };
struct ls_f16 { unsigned short bits; };

// Widening is exact for every storage type.
__device__ __forceinline__ float ls_to_f32(float x) { return x; }
__device__ __forceinline__ float ls_to_f32(ls_bf16 x) { return __uint_as_float(((unsigned)x.bits) << 16); }
#ifdef LS_HOST_EMULATION
// scripts/gpu-emulate runs these kernels as C++ on a CPU; _Float16 conversions are IEEE too.
__device__ __forceinline__ float ls_to_f32(ls_f16 x) {
    _Float16 h;
    __builtin_memcpy(&h, &x.bits, 2);
    return (float)h;
}
#else
__device__ __forceinline__ float ls_to_f32(ls_f16 x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
    return f;
}
#endif

// Narrowing: round to nearest, ties to even; NaN stays NaN (payload not part of any contract).
template <typename O> __device__ __forceinline__ O ls_from_f32(float x);
template <> __device__ __forceinline__ float ls_from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ ls_bf16 ls_from_f32<ls_bf16>(float x) {
    unsigned u = __float_as_uint(x);
    ls_bf16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.bits = (unsigned short)(((u >> 16) & 0x8000u) | 0x7fc0u);
    } else {
        r.bits = (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
    return r;
}
template <> __device__ __forceinline__ ls_f16 ls_from_f32<ls_f16>(float x) {
    ls_f16 r;
#ifdef LS_HOST_EMULATION
    _Float16 h = (_Float16)x;
    __builtin_memcpy(&r.bits, &h, 2);
#else
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(x));
#endif
    return r;
}

// Two values rounded to T and packed (a in the low half): for bf16 on sm_80+ one
// cvt.rn.bf16x2.f32 (round to nearest even, subnormals kept; a NaN becomes a canonical NaN,
// whose payload no contract specifies), else two ls_from_f32.
template <typename T> __device__ __forceinline__ unsigned ls_pack2(float a, float b) {
    return (unsigned)ls_from_f32<T>(a).bits | ((unsigned)ls_from_f32<T>(b).bits << 16);
}
#if !defined(LS_HOST_EMULATION) && __CUDA_ARCH__ >= 800
template <> __device__ __forceinline__ unsigned ls_pack2<ls_bf16>(float a, float b) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(b), "f"(a));
    return r;
}
#endif

// Instantiates `MACRO(name_suffix, T, O)` for every (input, output) storage pair. Symbol
// names are `{op}_{in}_{out}` with the dtype names of lockstep_reference::DType.
#define LS_FOR_ALL_PAIRS(MACRO)          \
    MACRO(f32_f32, float, float)         \
    MACRO(f32_bf16, float, ls_bf16)      \
    MACRO(f32_f16, float, ls_f16)        \
    MACRO(bf16_f32, ls_bf16, float)      \
    MACRO(bf16_bf16, ls_bf16, ls_bf16)   \
    MACRO(bf16_f16, ls_bf16, ls_f16)     \
    MACRO(f16_f32, ls_f16, float)        \
    MACRO(f16_bf16, ls_f16, ls_bf16)     \
    MACRO(f16_f16, ls_f16, ls_f16)

#define LS_FOR_ALL_TYPES(MACRO) \
    MACRO(f32, float)           \
    MACRO(bf16, ls_bf16)        \
    MACRO(f16, ls_f16)
