// Host emulation of the few CUDA features lockstep's kernels use, so that
// scripts/gpu-emulate can run them as C++ on a CPU: one std::thread per CUDA thread,
// std::barrier for __syncthreads, blocks one after another (so `__shared__` = static),
// except the blocks of one cluster (ls_launch_ex), which run together: each has its own
// dynamic shared memory, and ls_map_rank reaches the others'. Kernels run in a cluster use
// dynamic shared memory only (the skinny matmul keeps its arrays there under emulation).
// Only the kernels' indexing, tiling and order of operations are checked this way; the
// device's own arithmetic is checked on the GPU (bundle/run-all).
#pragma once
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define LS_HOST_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(...)
#define __shared__ static
#define __host__
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
// Per thread: its block's barrier, warp barriers and shuffle slots, dynamic shared memory,
// and its cluster.
struct ls_block_state {
    std::barrier<>* bar;
    std::vector<std::barrier<>*> warp_bars;
    float slots[1024];
    unsigned char* smem;
    unsigned smem_bytes;
};
struct ls_cluster_state {
    std::barrier<>* bar;
    std::vector<ls_block_state*> blocks;
};
inline thread_local ls_block_state* ls_block = nullptr;
inline thread_local ls_cluster_state* ls_cluster = nullptr;
inline thread_local unsigned ls_rank = 0;
inline void __syncthreads() { ls_block->bar->arrive_and_wait(); }
inline unsigned char* ls_dyn_smem() { return ls_block->smem; }
inline unsigned ls_dyn_smem_bytes() { return ls_block->smem_bytes; }
inline unsigned ls_cluster_rank() { return ls_rank; }
inline unsigned ls_cluster_size() { return (unsigned)ls_cluster->blocks.size(); }
inline void ls_cluster_sync() { ls_cluster->bar->arrive_and_wait(); }
inline float* ls_map_rank(float* p, unsigned rank) {
    const ptrdiff_t off = reinterpret_cast<unsigned char*>(p) - ls_block->smem;
    return reinterpret_cast<float*>(ls_cluster->blocks[rank]->smem + off);
}
// All 32 threads of the warp call it (as on the GPU, under a full mask).
inline float __shfl_down_sync(unsigned, float v, int s) {
    const unsigned t = threadIdx.x, w = t / 32, l = t % 32;
    ls_block->slots[t] = v;
    ls_block->warp_bars[w]->arrive_and_wait();
    const float r = l + s < 32 ? ls_block->slots[t + s] : v;
    ls_block->warp_bars[w]->arrive_and_wait();
    return r;
}
inline float __shfl_sync(unsigned, float v, int src) {
    const unsigned t = threadIdx.x, w = t / 32;
    ls_block->slots[t] = v;
    ls_block->warp_bars[w]->arrive_and_wait();
    const float r = ls_block->slots[w * 32 + (unsigned)src % 32];
    ls_block->warp_bars[w]->arrive_and_wait();
    return r;
}
inline float __shfl_xor_sync(unsigned, float v, int m) {
    const unsigned t = threadIdx.x, w = t / 32;
    ls_block->slots[t] = v;
    ls_block->warp_bars[w]->arrive_and_wait();
    const float r = ls_block->slots[w * 32 + ((t % 32) ^ (unsigned)m) % 32];
    ls_block->warp_bars[w]->arrive_and_wait();
    return r;
}
inline void __syncwarp(unsigned = 0xffffffffu) { ls_block->warp_bars[threadIdx.x / 32]->arrive_and_wait(); }
[[noreturn]] inline void __trap() { std::abort(); }
inline int __ffs(int x) { return __builtin_ffs(x); }

inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
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

// Runs `kernel` on grid × block with `smem` bytes of dynamic shared memory per block, in
// clusters of `cluster` consecutive blocks along x (along z with `along_z`; that grid
// dimension a multiple of it): one cluster at a time, one std::thread per CUDA thread.
inline void ls_launch_ex(ls_dim3 grid, unsigned threads, unsigned smem, unsigned cluster, const std::function<void()>& kernel, bool along_z = false) {
    gridDim = grid;
    blockDim = {threads, 1, 1};
    if (cluster == 0 || (along_z ? grid.z : grid.x) % cluster != 0 || threads > 1024) std::abort();
    const unsigned sx = along_z ? 1 : cluster, sz = along_z ? cluster : 1;  // blocks per step
    for (unsigned z = 0; z < grid.z; z += sz)
        for (unsigned y = 0; y < grid.y; ++y)
            for (unsigned x0 = 0; x0 < grid.x; x0 += sx) {
                std::barrier<> cbar((std::ptrdiff_t)(threads * cluster));
                ls_cluster_state cs{&cbar, {}};
                std::vector<std::unique_ptr<std::barrier<>>> owned;
                std::vector<std::unique_ptr<ls_block_state>> blocks;
                std::vector<std::vector<float4>> mem(cluster);
                for (unsigned r = 0; r < cluster; ++r) {
                    auto b = std::make_unique<ls_block_state>();
                    owned.push_back(std::make_unique<std::barrier<>>((std::ptrdiff_t)threads));
                    b->bar = owned.back().get();
                    for (unsigned w = 0; w < (threads + 31) / 32; ++w) {
                        const unsigned n = std::min(32u, threads - 32 * w);
                        owned.push_back(std::make_unique<std::barrier<>>((std::ptrdiff_t)n));
                        b->warp_bars.push_back(owned.back().get());
                    }
                    // Filled with a pattern, so that reading unwritten shared memory shows.
                    mem[r].assign(smem / 16 + 1, float4{NAN, NAN, NAN, NAN});
                    b->smem = reinterpret_cast<unsigned char*>(mem[r].data());
                    b->smem_bytes = smem;
                    cs.blocks.push_back(b.get());
                    blocks.push_back(std::move(b));
                }
                std::vector<std::thread> ts;
                for (unsigned r = 0; r < cluster; ++r)
                    for (unsigned t = 0; t < threads; ++t)
                        ts.emplace_back([&, t, r, x0, y, z] {
                            threadIdx = {t, 0, 0};
                            blockIdx = along_z ? ls_dim3{x0, y, z + r} : ls_dim3{x0 + r, y, z};
                            ls_block = cs.blocks[r];
                            ls_cluster = &cs;
                            ls_rank = r;
                            kernel();
                        });
                for (auto& t : ts) t.join();
            }
}

// Runs `kernel` on grid × block, one block at a time, no dynamic shared memory.
inline void ls_launch(ls_dim3 grid, unsigned threads, const std::function<void()>& kernel) { ls_launch_ex(grid, threads, 0, 1, kernel); }
