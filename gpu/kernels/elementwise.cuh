// lockstep elementwise math: CUDA mirror of reference/src/elementwise/mod.rs.
// Normative definition: docs/spec/elementwise.md. Every function performs exactly the
// operation sequence of the Rust function it names, with explicit round-to-nearest
// intrinsics, so that it is independent of --fmad (the GPU crate compiles with
// --fmad=false) and of fast-math flags. Constants are given as bit patterns, identical to
// `lockstep_reference::elementwise::consts`.
//
// Primitive mapping (Rust -> CUDA):
//   a + b -> __fadd_rn   a - b -> __fsub_rn   a * b -> __fmul_rn   a / b -> __fdiv_rn
//   a.mul_add(b, c) -> __fmaf_rn(a, b, c)     x.sqrt() -> __fsqrt_rn
//   x.round_ties_even() -> rintf              f32::from_bits / to_bits -> __uint_as_float / __float_as_uint
//   -x (sign flip, exact) -> -x               kf as i32 (kf integral) -> (int)kf
//   (i as f32) for |i| < 2^24 (exact) -> (float)i
#pragma once

// ---- constants (spec: "Constants") -------------------------------------------------
#define LS_LOG2E 0x3FB8AA3Bu    // 1.44269502162933349609375
#define LS_LN2_HI 0x3F317218u   // 0.693147182464599609375
#define LS_LN2_LO 0xB102E308u   // -1.904654212125933575630188e-9
#define LS_EXP_X_HI 0x42B17217u // 88.72283172607421875
#define LS_EXP_X_LO 0xC2CFF1B4u // -103.972076416015625
#define LS_EXP_E2 0x3EFFFFFEu   // 0.4999999403953552
#define LS_EXP_E3 0x3E2AAA49u   // 0.1666652113199234
#define LS_EXP_E4 0x3D2AAC7Au   // 0.04166839271783829
#define LS_EXP_E5 0x3C091D0Du   // 0.008368742652237415
#define LS_EXP_E6 0x3AB5119Bu   // 0.001381445094011724
#define LS_LOG_M_LO 0x3F2AAAABu // 0.666666686534881591796875
#define LS_TWO_P23 0x4B000000u  // 8388608
#define LS_LOG_L3 0x3EAAAA83u   // 0.3333321511745453
#define LS_LOG_L4 0xBE7FFF78u   // -0.24999797344207764
#define LS_LOG_L5 0x3E4CE811u   // 0.2001040130853653
#define LS_LOG_L6 0xBE2ACEE0u   // -0.16680479049682617
#define LS_LOG_L7 0x3E0F6BBDu   // 0.1400594264268875
#define LS_LOG_L8 0xBDF98945u   // -0.1218438521027565
#define LS_LOG_L9 0x3E0F3250u   // 0.13984036445617676
#define LS_LOG_L10 0xBE04013Eu  // -0.12891098856925964
#define LS_TANH_B 0x3F0CCCCDu   // 0.550000011920928955078125
#define LS_TANH_SAT 0x41200000u // 10
#define LS_TANH_T3 0xBEAAAAA5u  // -0.33333316445350647
#define LS_TANH_T5 0x3E088693u  // 0.13332585990428925
#define LS_TANH_T7 0xBD5C9447u  // -0.053852345794439316
#define LS_TANH_T9 0x3CAC9ED5u  // 0.02107183076441288
#define LS_TANH_T11 0xBBCD9A0Bu // -0.006274466868489981
#define LS_XSIG_Z_MID 0xC2A00000u // -80
#define LS_XSIG_Z_CUT 0xC2F00000u // -120
#define LS_GELU_C 0x3D372713u   // 0.0447149984538555145263671875
#define LS_GELU_K 0x3F4C422Au   // 0.79788458347320556640625
#define LS_QNAN 0x7FC00000u
#define LS_RINT_SHIFT 0x4B400000u // 12582912 = 1.5 · 2^23 (not a spec constant: see ls_exp_core)

__device__ __forceinline__ float ls_c(unsigned int bits) { return __uint_as_float(bits); }

// Rust: elementwise::pow2. 2^j for j in [-126, 127], from its bits (exact).
__device__ __forceinline__ float ls_pow2(int j) { return __uint_as_float((unsigned int)(j + 127) << 23); }

// Rust: elementwise::scale; spec "scale". q * 2^k = (q * 2^(k>>1)) * 2^(k - (k>>1)), >> arithmetic.
__device__ __forceinline__ float ls_scale(float q, int k) {
    int k1 = k >> 1;
    return __fmul_rn(__fmul_rn(q, ls_pow2(k1)), ls_pow2(k - k1));
}

// Rust: elementwise::exp_core; spec "exp_core". e^x = p * 2^k; no special cases.
// rint(y) without the conversion pipe (FRND, F2I: an eighth of the fma rate): for the x
// whose result callers keep, |x| ≤ 120, so |y| < 2^22, and y + 1.5·2^23 (LS_RINT_SHIFT) rounds y to an integer, to
// nearest even, in the sum's low mantissa bits; subtracting the shift back is exact, and
// k is the difference of the bit patterns. The one difference from rintf, +0 for k where
// rintf gives -0 (y in [-0.5, -0]), reaches no result bit: nk·LN2_HI and nk·LN2_LO are
// then zeros added to x, which give r = x, and r = +0 for x = -0, either way (spec
// "exp_core"; the stride-1 fingerprints of exp, tanh, sigmoid, silu and gelu over every
// f32 input are the spec's: gpu/kernels/elementwise_host_check.cpp).
__device__ __forceinline__ float ls_exp_core(float x, int* k) {
    const float t = __fadd_rn(__fmul_rn(x, ls_c(LS_LOG2E)), ls_c(LS_RINT_SHIFT));
    float kf = __fsub_rn(t, ls_c(LS_RINT_SHIFT));
    float nk = -kf;
    float r = __fmaf_rn(nk, ls_c(LS_LN2_HI), x);
    r = __fmaf_rn(nk, ls_c(LS_LN2_LO), r);
    float p = ls_c(LS_EXP_E6);
    p = __fmaf_rn(p, r, ls_c(LS_EXP_E5));
    p = __fmaf_rn(p, r, ls_c(LS_EXP_E4));
    p = __fmaf_rn(p, r, ls_c(LS_EXP_E3));
    p = __fmaf_rn(p, r, ls_c(LS_EXP_E2));
    p = __fmaf_rn(p, r, 1.0f);
    p = __fmaf_rn(p, r, 1.0f);
    *k = (int)(__float_as_uint(t) - LS_RINT_SHIFT);
    return p;
}

// Rust: elementwise::exp; spec "exp".
// The special cases are selected after the core, not branched to before it: the same value
// for every x (outside [X_LO, X_HI] the core's value is computed and dropped), and no
// divergent branches with their convergence barriers per element in the row kernels.
__device__ __forceinline__ float ls_exp(float x) {
    int k;
    const float p = ls_exp_core(x, &k);
    float r = ls_scale(p, k);
    r = x < ls_c(LS_EXP_X_LO) ? 0.0f : r;
    r = x > ls_c(LS_EXP_X_HI) ? __uint_as_float(0x7F800000u) : r;
    return x != x ? x : r;
}

// Rust: elementwise::log; spec "log".
__device__ __forceinline__ float ls_log(float x) {
    if (isnan(x)) return x;
    if (x < 0.0f) return ls_c(LS_QNAN);
    if (x == 0.0f) return __uint_as_float(0xFF800000u);
    if (x == __uint_as_float(0x7F800000u)) return x;
    unsigned int bits = __float_as_uint(x);
    int e_adj = 0;
    if (bits < 0x00800000u) {
        bits = __float_as_uint(__fmul_rn(x, ls_c(LS_TWO_P23)));
        e_adj = -23;
    }
    int t = (int)(bits - LS_LOG_M_LO);
    int e = t >> 23;
    float m = __uint_as_float(bits - ((unsigned int)e << 23));
    float f = __fsub_rn(m, 1.0f);
    float s = __fmul_rn(f, f);
    float p = ls_c(LS_LOG_L10);
    p = __fmaf_rn(p, f, ls_c(LS_LOG_L9));
    p = __fmaf_rn(p, f, ls_c(LS_LOG_L8));
    p = __fmaf_rn(p, f, ls_c(LS_LOG_L7));
    p = __fmaf_rn(p, f, ls_c(LS_LOG_L6));
    p = __fmaf_rn(p, f, ls_c(LS_LOG_L5));
    p = __fmaf_rn(p, f, ls_c(LS_LOG_L4));
    p = __fmaf_rn(p, f, ls_c(LS_LOG_L3));
    p = __fmaf_rn(p, f, -0.5f);
    float r = __fmaf_rn(p, s, f);
    float ef = (float)(e + e_adj);
    r = __fmaf_rn(ef, ls_c(LS_LN2_LO), r);
    return __fmaf_rn(ef, ls_c(LS_LN2_HI), r);
}

// Rust: elementwise::tanh; spec "tanh".
__device__ __forceinline__ float ls_tanh(float x) {
    if (isnan(x)) return x;
    unsigned int sign = __float_as_uint(x) & 0x80000000u;
    float a = __uint_as_float(__float_as_uint(x) & 0x7FFFFFFFu);
    float r;
    if (a < ls_c(LS_TANH_B)) {
        float s = __fmul_rn(a, a);
        float q = ls_c(LS_TANH_T11);
        q = __fmaf_rn(q, s, ls_c(LS_TANH_T9));
        q = __fmaf_rn(q, s, ls_c(LS_TANH_T7));
        q = __fmaf_rn(q, s, ls_c(LS_TANH_T5));
        q = __fmaf_rn(q, s, ls_c(LS_TANH_T3));
        q = __fmul_rn(q, s);
        r = __fmaf_rn(q, a, a);
    } else if (a < ls_c(LS_TANH_SAT)) {
        float e = ls_exp(__fadd_rn(a, a));
        float d = __fadd_rn(e, 1.0f);
        float q = __fdiv_rn(2.0f, d);
        r = __fsub_rn(1.0f, q);
    } else {
        r = 1.0f;
    }
    return __uint_as_float(__float_as_uint(r) | sign);
}

// Rust: elementwise::rsqrt; spec "rsqrt". Two correctly rounded steps, not rsqrtf().
__device__ __forceinline__ float ls_rsqrt(float x) { return __fdiv_rn(1.0f, __fsqrt_rn(x)); }

// Rust: elementwise::x_sigmoid; spec "x_sigmoid". x * sigmoid(z); caller has handled NaN.
__device__ __forceinline__ float ls_x_sigmoid(float x, float z) {
    if (z >= ls_c(LS_XSIG_Z_MID)) return __fdiv_rn(x, __fadd_rn(1.0f, ls_exp(-z)));
    if (z < ls_c(LS_XSIG_Z_CUT)) return __uint_as_float(__float_as_uint(x) & 0x80000000u);
    int k;
    float p = ls_exp_core(z, &k);
    float e = ls_scale(p, k);
    float n = __fmul_rn(x, p);
    float d = __fadd_rn(1.0f, e);
    float q = __fdiv_rn(n, d);
    return ls_scale(q, k);
}

// Rust: elementwise::sigmoid; spec "sigmoid".
__device__ __forceinline__ float ls_sigmoid(float x) {
    if (isnan(x)) return x;
    return ls_x_sigmoid(1.0f, x);
}

// Rust: elementwise::silu; spec "silu".
__device__ __forceinline__ float ls_silu(float x) {
    if (isnan(x)) return x;
    return ls_x_sigmoid(x, x);
}

// Rust: elementwise::gelu; spec "gelu" (tanh form, evaluated as x * sigmoid(2u)).
__device__ __forceinline__ float ls_gelu(float x) {
    if (isnan(x)) return x;
    float u = __fmul_rn(x, x);
    u = __fmul_rn(u, x);
    u = __fmaf_rn(ls_c(LS_GELU_C), u, x);
    u = __fmul_rn(u, ls_c(LS_GELU_K));
    float z = __fadd_rn(u, u);
    return ls_x_sigmoid(x, z);
}
