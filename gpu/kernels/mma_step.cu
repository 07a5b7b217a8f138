// mma_step.cu: ONE tensor-core step per warp, for the per-device check of the mma-sm90 rule
// (docs/spec/mma-sm90.md; launched by gpu/src/mma_probe.rs, compared there with
// reference/src/matmul/tensor_core.rs).
//
// Step s reads, as raw bits:
//   A  16 x 16 row-major 16-bit (bf16 or f16), at A + 256 s
//   W  8 x 16 row-major 16-bit: B transposed (B is the "col" operand), at W + 128 s
//   C  16 x 8 row-major f32 bits, at C + 128 s
// and writes D = A * W^T + C (16 x 8 f32 bits) at D + 128 s, from one
// `mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32` with the fragments in
// the PTX ISA's standard layout (the same indexing as tc_ref_body of matmul_tc.cu, which was
// checked on an H100): lane = 4 g + t holds A rows g and g + 8, k 2t, 2t + 1, 2t + 8, 2t + 9;
// B column g at those k; C/D rows g and g + 8, columns 2t, 2t + 1.
// A program of its own, compiled for the device's own architecture: mma.sync m16n8k16 with
// bf16 exists from sm_80 on. No headers, no floating-point operation besides the mma itself.

typedef unsigned short ms_u16;
typedef unsigned int ms_u32;

// Elements k, k + 1 of row `row` (16 per row) as the low / high halves of a register.
__device__ __forceinline__ ms_u32 ms_pair(const ms_u16* __restrict__ p, int row, int k) {
  return (ms_u32)p[row * 16 + k] | ((ms_u32)p[row * 16 + k + 1] << 16);
}

template <bool BF16>
__device__ __forceinline__ void ms_body(const ms_u16* __restrict__ A, const ms_u16* __restrict__ W, const ms_u32* __restrict__ C,
                                        ms_u32* __restrict__ D, int steps) {
  const int lane = threadIdx.x & 31;
  const long long s = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  // Warp-uniform: every lane of a warp has the same s, so mma.sync sees a full warp or none.
  if (s >= steps) return;
  const int g = lane >> 2, t = lane & 3;
  const ms_u16* a = A + s * 256;
  const ms_u16* w = W + s * 128;
  const ms_u32* c = C + s * 128;
  ms_u32* d = D + s * 128;
  const ms_u32 a0 = ms_pair(a, g, 2 * t), a1 = ms_pair(a, g + 8, 2 * t);
  const ms_u32 a2 = ms_pair(a, g, 2 * t + 8), a3 = ms_pair(a, g + 8, 2 * t + 8);
  const ms_u32 b0 = ms_pair(w, g, 2 * t), b1 = ms_pair(w, g, 2 * t + 8);
  const int i0 = g * 8 + 2 * t, i1 = (g + 8) * 8 + 2 * t;
  // C is loaded and D stored as bits; __uint_as_float / __float_as_uint are register moves
  // (mov.b32), which keep every bit, NaN payloads included.
  float d0 = __uint_as_float(c[i0]), d1 = __uint_as_float(c[i0 + 1]);
  float d2 = __uint_as_float(c[i1]), d3 = __uint_as_float(c[i1 + 1]);
  if constexpr (BF16) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
  d[i0] = __float_as_uint(d0);
  d[i0 + 1] = __float_as_uint(d1);
  d[i1] = __float_as_uint(d2);
  d[i1 + 1] = __float_as_uint(d3);
}

// MS_THREADS threads = 4 warps = 4 steps per block; grid ceil(steps / 4).
#define MS_THREADS 128

extern "C" __global__ void __launch_bounds__(MS_THREADS)
    mma_step_bf16(const ms_u16* __restrict__ A, const ms_u16* __restrict__ W, const ms_u32* __restrict__ C, ms_u32* __restrict__ D, int steps) {
  ms_body<true>(A, W, C, D, steps);
}

extern "C" __global__ void __launch_bounds__(MS_THREADS)
    mma_step_f16(const ms_u16* __restrict__ A, const ms_u16* __restrict__ W, const ms_u32* __restrict__ C, ms_u32* __restrict__ D, int steps) {
  ms_body<false>(A, W, C, D, steps);
}
