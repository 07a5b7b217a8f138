// Host emulation of the few CUDA features lockstep's kernels use, so that
// scripts/gpu-emulate can run them as C++ on a CPU: one std::thread per CUDA thread,
// std::barrier for __syncthreads, blocks one after another (so `__shared__` = static).
// Only the kernels' indexing, tiling and order of operations are checked this way; the
// device's own arithmetic is checked on the GPU (bundle/run-all).
#pragma once
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#define LS_HOST_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

// Vector types of the vectorized loads/stores (alignment as on the device; harness buffers
// are malloc'd, so 16-byte aligned; the kernels check alignment before a vector access).
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(8) uint2 { unsigned x, y; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

struct ls_dim3 { unsigned x = 0, y = 0, z = 0; };
inline thread_local ls_dim3 threadIdx, blockIdx;
inline ls_dim3 blockDim, gridDim;
inline std::barrier<>* ls_barrier = nullptr;
inline void __syncthreads() { ls_barrier->arrive_and_wait(); }
// Dynamic shared memory (`extern __shared__`): one buffer, blocks run one after another.
inline unsigned char* ls_dyn_smem = nullptr;
struct alignas(16) float4 { float x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __int2float_rn(int i) { return (float)i; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline int __float_as_int(float f) { int u; std::memcpy(&u, &f, 4); return u; }
using std::isnan;
using std::isinf;
using std::min;
using std::max;

// Runs `kernel` on grid × block, one block at a time, one std::thread per CUDA thread.
inline void ls_launch(ls_dim3 grid, unsigned threads, const std::function<void()>& kernel) {
    gridDim = grid;
    blockDim = {threads, 1, 1};
    for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
            for (unsigned x = 0; x < grid.x; ++x) {
                std::barrier<> bar((std::ptrdiff_t)threads);
                ls_barrier = &bar;
                std::vector<std::thread> ts;
                for (unsigned t = 0; t < threads; ++t)
                    ts.emplace_back([&, t, x, y, z] {
                        threadIdx = {t, 0, 0};
                        blockIdx = {x, y, z};
                        kernel();
                    });
                for (auto& t : ts) t.join();
            }
}
