// Host-side check of the CUDA mirror: compiles elementwise.cuh as plain C++ (the CUDA
// intrinsics mapped to the IEEE operations they denote) and prints the same fingerprints as
// `lockstep_reference::elementwise::accuracy::fingerprint` (docs/spec/elementwise.md).
//
//   g++ -O2 -std=c++17 -ffp-contract=off -fno-fast-math -o /tmp/ew gpu/kernels/elementwise_host_check.cpp
//   /tmp/ew 257
//   cargo run --release -p lockstep-reference --example elementwise_fingerprint -- 257
//
// The two outputs must be identical. `/tmp/ew 1 exp` (stride 1: every f32 input; optional
// op names) prints only the ops named, to compare with the stride-1 column of the spec.
// (x86-64: SSE arithmetic, no excess precision; glibc's fma is correctly rounded; rintf
// rounds to nearest even in the default rounding mode.)
// This checks the operation sequences, not the GPU: on the device the same fingerprint is
// computed by a kernel calling ls_* (the GPU crate's test).
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#define __device__
#define __forceinline__ inline
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return std::sqrt(a); }
static inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
static inline unsigned int __float_as_uint(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }
static inline float __uint_as_float(unsigned int u) { float f; std::memcpy(&f, &u, 4); return f; }
using std::isnan;
using std::rintf;
#include "elementwise.cuh"

int main(int argc, char** argv) {
    unsigned long long stride = argc > 1 ? strtoull(argv[1], 0, 10) : 65537;
    if (stride == 0) stride = 1;
    float (*fs[7])(float) = {ls_exp, ls_log, ls_rsqrt, ls_tanh, ls_sigmoid, ls_silu, ls_gelu};
    const char* names[7] = {"exp", "log", "rsqrt", "tanh", "sigmoid", "silu", "gelu"};
    for (int o = 0; o < 7; o++) {
        bool named = argc <= 2;
        for (int a = 2; a < argc; a++) named = named || std::strcmp(argv[a], names[o]) == 0;
        if (!named) continue;
        unsigned long long h = 0xCBF29CE484222325ull;
        for (unsigned long long i = 0; i <= 0xFFFFFFFFull; i += stride) {
            float y = fs[o](__uint_as_float((unsigned int)i));
            unsigned int b = isnan(y) ? 0x7FC00000u : __float_as_uint(y);
            h = (h ^ b) * 1099511628211ull;
        }
        printf("%s %016llx\n", names[o], h);
    }
}
