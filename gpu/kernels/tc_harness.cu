// tc_harness.cu: standalone check + timing of gpu/kernels/matmul_tc.cu on an H100.
//
// Build (CUDA 13; no GPU needed to build, libcuda and cuBLAS are opened at run time):
//   nvcc -std=c++17 -O3 -DTC_HANG_TRAP -gencode=arch=compute_90a,code=sm_90a -o tc_harness tc_harness.cu -ldl
// Run (scripts/tc-harness.sh runs all four): ./tc_harness model OUTDIR; ./tc_harness check base;
//   ./tc_harness check wg; ./tc_harness time all|nowg OUTDIR
//
// What it checks (every comparison bitwise; NaN equals NaN of any payload):
//  1. the oracle kernel against a C++ model of the measured tensor-core step
//     (shared/data/h100-tensor-core/README.md) on small shapes, special values included;
//  2. every fast kernel against the oracle, for bf16 and f16 inputs, all M in the list,
//     N and K off the tile sizes (K % 16 != 0 and K % 8 != 0 included), bias on/off,
//     f32/bf16/f16 outputs; unwritten outputs are caught by poisoning C first;
//  3. batch invariance: row i of an M-row product equals the 1-row product of row i;
// then times every variant against cuBLAS (cublasGemmEx, bf16 in/out, CUBLAS_COMPUTE_32F,
// default algo) with CUDA events, median of 25 runs after warm-up, inputs rotated over
// enough copies that L2 (50 MB) cannot hold them, and a device-to-device copy for the
// bandwidth ceiling. cuBLAS is loaded with dlopen, the TMA encoder through the runtime's
// driver entry point, so the binary needs neither libcuda nor cuBLAS at link time.

#include <cuda_runtime.h>
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "matmul_tc.cu"
#include "tc_model.h"

#define CK(x)                                                                                  \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, __LINE__, #x); \
      exit(2);                                                                                 \
    }                                                                                          \
  } while (0)

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static inline uint64_t rnd() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}
static inline double urand() { return (rnd() >> 11) * (1.0 / 9007199254740992.0); }

// ------------------------------------------------------------------------------------------
// Host conversions and the C++ model of one tensor-core step.
// ------------------------------------------------------------------------------------------

static inline uint16_t h_f32_to_16(float x, bool bf16) {
  if (bf16) {
    __nv_bfloat16 b = __float2bfloat16_rn(x);
    uint16_t r;
    memcpy(&r, &b, 2);
    return r;
  }
  __half h = __float2half_rn(x);
  uint16_t r;
  memcpy(&r, &h, 2);
  return r;
}

// ------------------------------------------------------------------------------------------
// Input generation
// ------------------------------------------------------------------------------------------

enum Cat { CAT_NORMAL = 0, CAT_WIDE = 1, CAT_SPECIAL = 2 };
static const char* cat_name(int c) { return c == CAT_NORMAL ? "normal" : c == CAT_WIDE ? "wide" : "special"; }

// normal: N(0,1)-like values. wide: exponents over most of the range, zeros, subnormals,
// huge values. special: wide plus rare +-inf and NaN (rate chosen so many outputs stay finite).
static void gen(std::vector<uint16_t>& v, bool bf16, int cat, int K) {
  for (auto& x : v) {
    if (cat == CAT_NORMAL) {
      double g = (urand() + urand() + urand() - 1.5) * 2.0;
      x = h_f32_to_16((float)g, bf16);
      continue;
    }
    uint64_t r = rnd();
    int kind = (int)(r % 1000);
    uint16_t sign = (uint16_t)((r >> 20) & 1) << 15;
    int mbits = bf16 ? 7 : 10, ebits = bf16 ? 8 : 5;
    uint16_t man = (uint16_t)((r >> 24) & ((1u << mbits) - 1));
    uint16_t emaxf = (uint16_t)((1u << ebits) - 1);
    if (cat == CAT_SPECIAL && (double)(r >> 40) / (double)(1ull << 24) < 0.25 / K) {
      int s = (int)((r >> 32) % 3);
      x = s == 0 ? (uint16_t)(emaxf << mbits) : s == 1 ? (uint16_t)(0x8000 | (emaxf << mbits)) : (uint16_t)((emaxf << mbits) | 1 | (1u << (mbits - 1)));
      continue;
    }
    if (kind < 30) {
      x = sign;  // +-0
    } else if (kind < 60) {
      x = sign | (man ? man : 1);  // subnormal
    } else if (kind < 70) {
      x = sign | (uint16_t)((emaxf - 1) << mbits) | man;  // huge
    } else {
      // normal with an exponent spread over most of the range
      int e;
      if (bf16)
        e = 127 + (int)((r >> 48) % 81) - 40;  // 2^-40 .. 2^40
      else
        e = 15 + (int)((r >> 48) % 21) - 10;  // 2^-10 .. 2^10
      x = sign | (uint16_t)(e << mbits) | man;
    }
  }
}

// ------------------------------------------------------------------------------------------
// Kernel variants and launchers
// ------------------------------------------------------------------------------------------

typedef CUresult (*EncodeTiledFn)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                  const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
static EncodeTiledFn g_encode = nullptr;

static TcTmaDesc make_map_uncached(const void* p, int rows, int K, int box_rows, bool bf16);
// Encoding a map costs host time; the timing loop reuses maps of the same buffers.
static TcTmaDesc make_map(const void* p, int rows, int K, int box_rows, bool bf16) {
  struct Key {
    const void* p;
    int rows, K, box;
    bool bf16;
    TcTmaDesc d;
  };
  static std::vector<Key> cache;
  for (auto& k : cache)
    if (k.p == p && k.rows == rows && k.K == K && k.box == box_rows && k.bf16 == bf16) return k.d;
  TcTmaDesc d = make_map_uncached(p, rows, K, box_rows, bf16);
  if (cache.size() > 256) cache.clear();
  cache.push_back(Key{p, rows, K, box_rows, bf16, d});
  return d;
}
static TcTmaDesc make_map_uncached(const void* p, int rows, int K, int box_rows, bool bf16) {
  CUtensorMap m;
  cuuint64_t dims[2] = {(cuuint64_t)K, (cuuint64_t)rows};
  cuuint64_t strides[1] = {(cuuint64_t)K * 2};
  cuuint32_t box[2] = {64, (cuuint32_t)box_rows};
  cuuint32_t es[2] = {1, 1};
  CUresult r = g_encode(&m, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, (void*)p, dims, strides, box, es,
                        CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    fprintf(stderr, "cuTensorMapEncodeTiled failed (%d) rows=%d K=%d box=%d\n", (int)r, rows, K, box_rows);
    exit(2);
  }
  TcTmaDesc d;
  static_assert(sizeof(d) == sizeof(m), "tensor map size");
  memcpy(&d, &m, sizeof(d));
  return d;
}

struct Args {
  const uint16_t* A;
  const uint16_t* W;
  const float* bias;
  void* C;
  int M, N, K;
};

template <bool BF16, int OUT>
static void launch_ref(const Args& a) {
  long long tiles = (long long)((a.M + 15) / 16) * ((a.N + 7) / 8);
  long long blocks = (tiles + 7) / 8;
  tc_ref_kernel<BF16, OUT><<<(unsigned)blocks, 256>>>(a.A, a.W, a.bias, a.C, a.M, a.N, a.K);
}
template <bool BF16, int OUT, bool VEC>
static void launch_mma(const Args& a) {
  static bool init = false;
  if (!init) {
    CK(cudaFuncSetAttribute(tc_mma_kernel<BF16, OUT, VEC>, cudaFuncAttributeMaxDynamicSharedMemorySize, TC_MS_SMEM_BYTES));
    init = true;
  }
  dim3 grid((a.N + TC_MS_BN - 1) / TC_MS_BN, (a.M + TC_MS_BM - 1) / TC_MS_BM);
  tc_mma_kernel<BF16, OUT, VEC><<<grid, TC_MS_THREADS, TC_MS_SMEM_BYTES>>>(a.A, a.W, a.bias, a.C, a.M, a.N, a.K);
}
template <bool BF16, int OUT, int WARPS, int MT, int BK>
static void launch_gemv_mt(const Args& a) {
  constexpr int ST = tc_gv_stages(WARPS, MT, BK);
  constexpr int SMEM = ST * tc_gv_stage_bytes(WARPS, MT, BK);
  static bool init = false;
  if (!init) {
    CK(cudaFuncSetAttribute(tc_gemv_kernel<BF16, OUT, WARPS, MT, BK, ST>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM));
    init = true;
  }
  tc_gemv_kernel<BF16, OUT, WARPS, MT, BK, ST><<<(a.N + 16 * WARPS - 1) / (16 * WARPS), 32 * WARPS, SMEM>>>(a.A, a.W, a.bias, a.C, a.M, a.N, a.K);
}
template <bool BF16, int OUT, int WARPS, int BK = 128>
static void launch_gemv(const Args& a) {
  if (a.M <= 8)
    launch_gemv_mt<BF16, OUT, WARPS, 1, BK>(a);
  else if (a.M <= 16)
    launch_gemv_mt<BF16, OUT, WARPS, 2, BK>(a);
  else if (a.M <= 32)
    launch_gemv_mt<BF16, OUT, WARPS, 4, BK>(a);
  else
    launch_gemv_mt<BF16, OUT, WARPS, 8, BK>(a);
}
// BK = 256: half the ring steps (waits, barriers) per k; only for M <= 16.
template <bool BF16, int OUT, int WARPS>
static void launch_gemv256(const Args& a) {
  if (a.M <= 8)
    launch_gemv_mt<BF16, OUT, WARPS, 1, 256>(a);
  else
    launch_gemv_mt<BF16, OUT, WARPS, 2, 256>(a);
}
template <bool BF16, int OUT, int BN, int CWG, int ST>
static void launch_wgmma(const Args& a) {
  typedef TcWgShape<BN, CWG, ST> S;
  static bool init = false;
  if (!init) {
    CK(cudaFuncSetAttribute(tc_wgmma_kernel<BF16, OUT, BN, CWG, ST>, cudaFuncAttributeMaxDynamicSharedMemorySize, S::SMEM_BYTES));
    init = true;
  }
  TcTmaDesc ta = make_map(a.A, a.M, a.K, S::BM, BF16);
  TcTmaDesc tw = make_map(a.W, a.N, a.K, BN, BF16);
  const unsigned tiles = (unsigned)(((a.N + BN - 1) / BN) * ((a.M + S::BM - 1) / S::BM));  // 1-D: the kernel orders tiles
  tc_wgmma_kernel<BF16, OUT, BN, CWG, ST><<<tiles, S::THREADS, S::SMEM_BYTES>>>(ta, tw, a.bias, a.C, a.M, a.N, a.K);
}

struct Variant {
  std::string name;
  int kind;  // 0 ref, 1 mma, 2 gemv, 3 wgmma
  std::function<bool(int M, int K)> ok;
  std::function<void(const Args&)> run[2][3];  // [bf16][out]
};

template <int OUT>
static void fill_variant_out(std::vector<Variant>& v) {
  v[0].run[1][OUT] = launch_ref<true, OUT>;
  v[0].run[0][OUT] = launch_ref<false, OUT>;
  v[1].run[1][OUT] = [](const Args& a) {
    if (a.K % 8 == 0)
      launch_mma<true, OUT, true>(a);
    else
      launch_mma<true, OUT, false>(a);
  };
  v[1].run[0][OUT] = [](const Args& a) {
    if (a.K % 8 == 0)
      launch_mma<false, OUT, true>(a);
    else
      launch_mma<false, OUT, false>(a);
  };
  v[2].run[1][OUT] = launch_gemv<true, OUT, 1>;
  v[2].run[0][OUT] = launch_gemv<false, OUT, 1>;
  v[3].run[1][OUT] = launch_gemv<true, OUT, 2>;
  v[3].run[0][OUT] = launch_gemv<false, OUT, 2>;
  v[4].run[1][OUT] = launch_gemv<true, OUT, 4>;
  v[4].run[0][OUT] = launch_gemv<false, OUT, 4>;
  v[5].run[1][OUT] = launch_wgmma<true, OUT, 256, 2, 4>;
  v[5].run[0][OUT] = launch_wgmma<false, OUT, 256, 2, 4>;
  v[6].run[1][OUT] = launch_wgmma<true, OUT, 128, 2, 6>;
  v[6].run[0][OUT] = launch_wgmma<false, OUT, 128, 2, 6>;
  v[7].run[1][OUT] = launch_wgmma<true, OUT, 128, 1, 8>;
  v[7].run[0][OUT] = launch_wgmma<false, OUT, 128, 1, 8>;
  v[8].run[1][OUT] = launch_wgmma<true, OUT, 64, 1, 8>;
  v[8].run[0][OUT] = launch_wgmma<false, OUT, 64, 1, 8>;
  v[9].run[1][OUT] = launch_gemv256<true, OUT, 2>;
  v[9].run[0][OUT] = launch_gemv256<false, OUT, 2>;
  v[10].run[1][OUT] = launch_gemv256<true, OUT, 4>;
  v[10].run[0][OUT] = launch_gemv256<false, OUT, 4>;
}

static std::vector<Variant> make_variants() {
  std::vector<Variant> v(11);
  auto any = [](int, int) { return true; };
  auto vec = [](int, int K) { return K % 8 == 0; };
  auto small = [](int M, int K) { return M <= 64 && K % 8 == 0; };
  v[0].name = "ref", v[0].kind = 0, v[0].ok = any;
  v[1].name = "mma128", v[1].kind = 1, v[1].ok = any;
  v[2].name = "gemv_w1", v[2].kind = 2, v[2].ok = small;
  v[3].name = "gemv_w2", v[3].kind = 2, v[3].ok = small;
  v[4].name = "gemv_w4", v[4].kind = 2, v[4].ok = small;
  v[5].name = "wg128x256", v[5].kind = 3, v[5].ok = vec;
  v[6].name = "wg128x128", v[6].kind = 3, v[6].ok = vec;
  v[7].name = "wg64x128", v[7].kind = 3, v[7].ok = vec;
  v[8].name = "wg64x64", v[8].kind = 3, v[8].ok = vec;
  auto tiny = [](int M, int K) { return M <= 16 && K % 8 == 0; };
  v[9].name = "gemv256_w2", v[9].kind = 2, v[9].ok = tiny;
  v[10].name = "gemv256_w4", v[10].kind = 2, v[10].ok = tiny;
  fill_variant_out<TC_OUT_F32>(v);
  fill_variant_out<TC_OUT_BF16>(v);
  fill_variant_out<TC_OUT_F16>(v);
  return v;
}

// The launcher's choice (docs/perf-tc.md). K % 8 != 0: mma128 (the only kernel without
// 16-byte row alignment). M <= 8: gemv with 4 warps (N >= 8192) or 2 warps and BK = 256;
// M <= 16, and M <= 32 when N >= 8192: gemv with 4 warps. Otherwise
// the wgmma tile that minimises waves x tile area / relative per-SM throughput of the tile
// (measured on the H200, N = K = 4096, M = 8192: 128x256 1.00, 128x128 0.87, 64x128 0.61, 64x64 0.35;
// each CTA takes a whole SM, so waves = ceil(tiles / SMs)).
static bool g_no_wg = false;  // set when the wgmma kernels failed their check
static int g_sms = 132;
static int dispatch(int M, int N, int K) {
  if (K % 8 != 0) return 1;
  if (M <= 8) return N >= 8192 ? 4 : 9;  // gemv_w4 : gemv256_w2
  if (M <= 16 || (M <= 32 && N >= 8192)) return 4;
  if (M <= 64 && g_no_wg) return 4;
  if (g_no_wg) return 1;
  const int bm[4] = {128, 128, 64, 64}, bn[4] = {256, 128, 128, 64}, var[4] = {5, 6, 7, 8};
  const double thr[4] = {1.0, 0.87, 0.61, 0.35};
  double best = 1e300;
  int bv = 5;
  for (int i = 0; i < 4; ++i) {
    long long tiles = (long long)((M + bm[i] - 1) / bm[i]) * ((N + bn[i] - 1) / bn[i]);
    double cost = (double)((tiles + g_sms - 1) / g_sms) * bm[i] * bn[i] / thr[i];
    if (cost < best) best = cost, bv = var[i];
  }
  return bv;
}

// ------------------------------------------------------------------------------------------
// Correctness
// ------------------------------------------------------------------------------------------

static inline bool same_bits_f32(uint32_t a, uint32_t b) {
  bool na = (a & 0x7f800000u) == 0x7f800000u && (a & 0x7fffffu);
  bool nb = (b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu);
  return (na && nb) || a == b;
}
static inline bool same_bits_16(uint16_t a, uint16_t b, bool bf16) {
  uint16_t em = bf16 ? 0x7f80 : 0x7c00, mm = bf16 ? 0x7f : 0x3ff;
  bool na = (a & em) == em && (a & mm), nb = (b & em) == em && (b & mm);
  return (na && nb) || a == b;
}

static int g_fail = 0, g_checks = 0;

struct Dev {
  uint16_t *A = nullptr, *W = nullptr;
  float* bias = nullptr;
  void *C = nullptr, *R = nullptr;
  size_t cap_a = 0, cap_w = 0, cap_c = 0, cap_r = 0;
};
static void ensure(void** p, size_t& cap, size_t bytes) {
  if (bytes <= cap) return;
  if (*p) CK(cudaFree(*p));
  CK(cudaMalloc(p, bytes));
  cap = bytes;
}

// Runs variant `vi` and the oracle on the same inputs and compares every output bit.
static void check_case(std::vector<Variant>& vars, Dev& d, bool bf16, int M, int N, int K, int cat, bool with_bias, int out,
                       const std::vector<int>& which) {
  std::vector<uint16_t> a((size_t)M * K), w((size_t)N * K);
  gen(a, bf16, cat, K);
  gen(w, bf16, cat, K);
  std::vector<float> bias(N);
  for (auto& b : bias) b = (float)((urand() - 0.5) * 8.0);
  size_t cb = (size_t)M * N * (out == TC_OUT_F32 ? 4 : 2);
  ensure((void**)&d.A, d.cap_a, a.size() * 2);
  ensure((void**)&d.W, d.cap_w, w.size() * 2);
  ensure(&d.C, d.cap_c, cb);
  ensure(&d.R, d.cap_r, cb);
  if (!d.bias) CK(cudaMalloc(&d.bias, 1 << 20));
  CK(cudaMemcpy(d.A, a.data(), a.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(d.W, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(d.bias, bias.data(), N * 4, cudaMemcpyHostToDevice));
  Args ar{d.A, d.W, with_bias ? d.bias : nullptr, d.R, M, N, K};
  CK(cudaMemset(d.R, 0xA5, cb));
  vars[0].run[bf16][out](ar);
  CK(cudaGetLastError());
  std::vector<uint8_t> ref(cb), got(cb);
  CK(cudaMemcpy(ref.data(), d.R, cb, cudaMemcpyDeviceToHost));
  for (int vi : which) {
    if (!vars[vi].ok(M, K)) continue;
    ar.C = d.C;
    CK(cudaMemset(d.C, 0x5A, cb));  // poison: a different pattern from the oracle's
    vars[vi].run[bf16][out](ar);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(got.data(), d.C, cb, cudaMemcpyDeviceToHost));
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < (size_t)M * N; ++i) {
      bool same;
      if (out == TC_OUT_F32) {
        uint32_t x, y;
        memcpy(&x, &ref[i * 4], 4);
        memcpy(&y, &got[i * 4], 4);
        same = same_bits_f32(x, y);
      } else {
        uint16_t x, y;
        memcpy(&x, &ref[i * 2], 2);
        memcpy(&y, &got[i * 2], 2);
        same = same_bits_16(x, y, out == TC_OUT_BF16);
      }
      if (!same && bad++ == 0) first = i;
    }
    ++g_checks;
    if (bad) {
      ++g_fail;
      if (g_fail < 40)
        printf("FAIL %-10s %s in=%s out=%d bias=%d M=%d N=%d K=%d: %zu mismatches, first at (%zu,%zu)\n", vars[vi].name.c_str(), cat_name(cat),
               bf16 ? "bf16" : "f16", out, (int)with_bias, M, N, K, bad, first / N, first % N);
    }
  }
}

// The oracle against the C++ model of the step; optionally dumps each case for the Rust model.
static void check_oracle_vs_model(std::vector<Variant>& vars, Dev& d, FILE* dump) {
  int shapes[][3] = {{1, 1, 1}, {3, 5, 40}, {16, 8, 16}, {17, 13, 100}, {7, 9, 33}, {2, 24, 256}};
  int bad_total = 0, n_total = 0, cases = 0;
  for (int bf = 1; bf >= 0; --bf)
    for (int cat = 0; cat < 3; ++cat)
      for (auto& s : shapes) {
        int M = s[0], N = s[1], K = s[2];
        std::vector<uint16_t> a((size_t)M * K), w((size_t)N * K);
        gen(a, bf, cat, std::max(K, 16) / 4);  // denser specials than the big checks
        gen(w, bf, cat, std::max(K, 16) / 4);
        ensure((void**)&d.A, d.cap_a, a.size() * 2);
        ensure((void**)&d.W, d.cap_w, w.size() * 2);
        ensure(&d.R, d.cap_r, (size_t)M * N * 4);
        CK(cudaMemcpy(d.A, a.data(), a.size() * 2, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(d.W, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
        Args ar{d.A, d.W, nullptr, d.R, M, N, K};
        vars[0].run[bf][TC_OUT_F32](ar);
        CK(cudaGetLastError());
        std::vector<uint32_t> got((size_t)M * N);
        CK(cudaMemcpy(got.data(), d.R, got.size() * 4, cudaMemcpyDeviceToHost));
        int bad = 0;
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < N; ++j) {
            uint32_t want = bits_of_f32(model_dot(&a[(size_t)i * K], &w[(size_t)j * K], K, bf));
            if (!same_bits_f32(want, got[(size_t)i * N + j])) {
              if (bad < 3)
                printf("MODEL MISMATCH %s %s M=%d N=%d K=%d (%d,%d): gpu %08x model %08x\n", bf ? "bf16" : "f16", cat_name(cat), M, N, K, i, j,
                       got[(size_t)i * N + j], want);
              ++bad;
            }
          }
        bad_total += bad, n_total += M * N, ++cases;
        if (dump) {
          fprintf(dump, "case %s %s %d %d %d\nA", bf ? "bf16" : "f16", cat_name(cat), M, N, K);
          for (auto x : a) fprintf(dump, " %04x", x);
          fprintf(dump, "\nW");
          for (auto x : w) fprintf(dump, " %04x", x);
          fprintf(dump, "\nC");
          for (auto x : got) fprintf(dump, " %08x", x);
          fprintf(dump, "\n");
        }
      }
  printf("oracle vs C++ step model: %d cases, %d elements, %d mismatches\n", cases, n_total, bad_total);
  ++g_checks;
  if (bad_total) ++g_fail;
}

static void check_batch_invariance(std::vector<Variant>& vars, Dev& d) {
  const int N = 4096, K = 4096;
  int Ms[] = {33, 256, 1000, 4096};
  int bad = 0, n = 0;
  for (int M : Ms) {
    std::vector<uint16_t> a((size_t)M * K), w((size_t)N * K);
    gen(a, true, CAT_NORMAL, K);
    gen(w, true, CAT_NORMAL, K);
    ensure((void**)&d.A, d.cap_a, a.size() * 2);
    ensure((void**)&d.W, d.cap_w, w.size() * 2);
    ensure(&d.C, d.cap_c, (size_t)M * N * 4);
    ensure(&d.R, d.cap_r, (size_t)M * N * 4);
    CK(cudaMemcpy(d.A, a.data(), a.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d.W, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
    int vi = dispatch(M, N, K);
    vars[vi].run[1][TC_OUT_F32](Args{d.A, d.W, nullptr, d.C, M, N, K});
    CK(cudaGetLastError());
    std::vector<uint32_t> full((size_t)M * N), one(N);
    CK(cudaMemcpy(full.data(), d.C, full.size() * 4, cudaMemcpyDeviceToHost));
    int rows[] = {0, 1, M / 2, M - 1};
    for (int i : rows) {
      int v1 = dispatch(1, N, K);
      vars[v1].run[1][TC_OUT_F32](Args{d.A + (size_t)i * K, d.W, nullptr, d.R, 1, N, K});
      CK(cudaGetLastError());
      CK(cudaMemcpy(one.data(), d.R, N * 4, cudaMemcpyDeviceToHost));
      for (int j = 0; j < N; ++j) bad += !same_bits_f32(one[j], full[(size_t)i * N + j]);
      n += N;
    }
    printf("batch invariance M=%d (%s) vs M=1 (%s): %d of %d differ\n", M, vars[vi].name.c_str(), vars[dispatch(1, N, K)].name.c_str(), bad, n);
  }
  ++g_checks;
  if (bad) ++g_fail;
}

// ------------------------------------------------------------------------------------------
// Timing
// ------------------------------------------------------------------------------------------

typedef int (*CublasCreateFn)(void**);
typedef int (*CublasGemmExFn)(void*, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int, const void*, void*, int, int,
                              int, int);
static void* g_cublas = nullptr;
static CublasGemmExFn g_gemmex = nullptr;

static bool load_cublas() {
  void* h = dlopen("libcublas.so.13", RTLD_NOW);
  if (!h) h = dlopen("libcublas.so", RTLD_NOW);
  if (!h) return false;
  auto create = (CublasCreateFn)dlsym(h, "cublasCreate_v2");
  g_gemmex = (CublasGemmExFn)dlsym(h, "cublasGemmEx");
  if (!create || !g_gemmex) return false;
  return create(&g_cublas) == 0;
}
// C (M x N row-major) = A (M x K row-major) * W^T (W N x K row-major), bf16 in/out, f32 compute.
static void cublas_mm(const Args& a) {
  const float one = 1.0f, zero = 0.0f;
  const int OP_N = 0, OP_T = 1, R_16BF = 14, COMPUTE_32F = 68, ALGO_DEFAULT = -1;
  int st = g_gemmex(g_cublas, OP_T, OP_N, a.N, a.M, a.K, &one, a.W, R_16BF, a.K, a.A, R_16BF, a.K, &zero, a.C, R_16BF, a.N, COMPUTE_32F, ALGO_DEFAULT);
  if (st != 0) {
    fprintf(stderr, "cublasGemmEx failed: %d\n", st);
    exit(2);
  }
}

static float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Keeps the GPU busy while the host queues the timed launches, so host-side launch cost
// (cuBLAS heuristics, tensor-map lookups) stays out of the GPU-side intervals.
__global__ void tc_spin(unsigned long long ns) {
  unsigned long long t0, t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  } while (t - t0 < ns);
}

// Median time (ms) of `fn` over 25 runs after 3 warm-ups; run i uses input copy i % copies.
// Events sit between back-to-back launches queued behind a spin kernel.
static float time_it(const std::function<void(int)>& fn, int copies) {
  const int R = 25;
  std::vector<cudaEvent_t> ev(R + 1);
  for (auto& e : ev) CK(cudaEventCreate(&e));
  for (int i = 0; i < 3; ++i) fn(i % copies);
  CK(cudaDeviceSynchronize());
  CK(cudaGetLastError());
  tc_spin<<<1, 1>>>(3000000ull);
  CK(cudaEventRecord(ev[0]));
  for (int i = 0; i < R; ++i) {
    fn((i + 3) % copies);
    CK(cudaEventRecord(ev[i + 1]));
  }
  CK(cudaEventSynchronize(ev[R]));
  CK(cudaGetLastError());
  std::vector<float> t;
  for (int i = 0; i < R; ++i) {
    float ms;
    CK(cudaEventElapsedTime(&ms, ev[i], ev[i + 1]));
    t.push_back(ms);
  }
  for (auto& e : ev) CK(cudaEventDestroy(e));
  return median(t);
}

int main(int argc, char** argv) {
  // Modes, each in its own process so that a fault in one kernel family cannot take the
  // others' results with it:
  //   model OUTDIR   the oracle against the C++ step model; dumps the cases to OUTDIR
  //   check base|wg  fast kernels (mma/gemv, or wgmma) against the oracle; batch invariance
  //   time all|nowg OUTDIR   the timing table (nowg: leave the wgmma kernels out)
  if (argc < 2) {
    fprintf(stderr, "usage: %s model OUTDIR | check base|wg | time all|nowg OUTDIR\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  std::string set = argc > 2 ? argv[2] : "";
  bool quick = getenv("TC_QUICK") != nullptr;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  int drv = 0, rtv = 0;
  CK(cudaDriverGetVersion(&drv));
  CK(cudaRuntimeGetVersion(&rtv));
  printf("[%s %s] device: %s, %d SMs, L2 %d MB, smem/block optin %zu KB, driver %d, runtime %d\n", mode.c_str(), set.c_str(), prop.name,
         prop.multiProcessorCount, prop.l2CacheSize >> 20, prop.sharedMemPerBlockOptin >> 10, drv, rtv);
  {
    cudaDriverEntryPointQueryResult q;
    void* fn = nullptr;
    CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q));
    if (!fn) {
      fprintf(stderr, "no cuTensorMapEncodeTiled\n");
      return 2;
    }
    g_encode = (EncodeTiledFn)fn;
  }
  std::vector<Variant> vars = make_variants();
  g_sms = prop.multiProcessorCount;
  Dev d;

  if (mode == "model") {
    std::string dump_path = std::string(argc > 2 ? argv[2] : ".") + "/tc_oracle_cases.txt";
    FILE* dump = fopen(dump_path.c_str(), "w");
    check_oracle_vs_model(vars, d, dump);
    if (dump) fclose(dump);
    printf("RESULT model: %d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
  }

  if (mode == "check") {
    std::vector<int> fast = set == "wg" ? std::vector<int>{5, 6, 7, 8} : std::vector<int>{1, 2, 3, 4, 9, 10};
    g_no_wg = set != "wg";
    int Ms[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 63, 64, 127, 128, 129, 255, 256, 1000, 4096};
    int NKs[][2] = {{264, 1000}, {520, 72}, {136, 4104}, {200, 37}, {8, 16}, {300, 8}};
    int nm = sizeof(Ms) / sizeof(Ms[0]);
    int idx = 0;
    for (int bf = 1; bf >= 0; --bf)
      for (auto& nk : NKs)
        for (int mi = 0; mi < nm; ++mi) {
          int M = Ms[mi], N = nk[0], K = nk[1];
          if (quick && M > 300) continue;
          int cat = idx % 3;
          // all six (out, bias) combinations on small M, two rotating ones on large M.
          for (int out = 0; out < 3; ++out)
            for (int b = 0; b < 2; ++b) {
              if (M > 300 && ((out * 2 + b + idx) % 3) != 0) continue;
              check_case(vars, d, bf, M, N, K, cat, b, out, fast);
            }
          ++idx;
        }
    printf("fast kernels (%s) vs oracle: %d comparisons, %d failed\n", set.c_str(), g_checks, g_fail);
    check_batch_invariance(vars, d);
    printf("RESULT check %s: %d checks, %d failed\n", set.c_str(), g_checks, g_fail);
    return g_fail ? 1 : 0;
  }

  if (mode != "time") {
    fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  const char* outdir = argc > 3 ? argv[3] : ".";
  g_no_wg = set != "all";
  if (!load_cublas()) {
    printf("cuBLAS not loadable: no timing\n");
    return 2;
  }
  double copy_bw;
  {
    size_t bytes = 1ull << 30;
    void *x, *y;
    CK(cudaMalloc(&x, bytes));
    CK(cudaMalloc(&y, bytes));
    CK(cudaMemset(x, 1, bytes));
    float ms = time_it([&](int) { CK(cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice)); }, 1);
    copy_bw = 2.0 * bytes / (ms * 1e-3);
    printf("device-to-device copy: %.0f GB/s (read + written)\n", copy_bw / 1e9);
    CK(cudaFree(x));
    CK(cudaFree(y));
  }
  std::vector<int> tvars = g_no_wg ? std::vector<int>{1, 2, 3, 4, 9, 10} : std::vector<int>{1, 2, 3, 4, 9, 10, 5, 6, 7, 8};
  // TC_TIME_SMALL: only M <= 32 and the gemv kernels (a short run after a gemv change).
  const bool small_only = getenv("TC_TIME_SMALL") != nullptr;
  if (small_only) tvars = {2, 3, 4, 9, 10};
  int Ms[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
  int NKs[][2] = {{4096, 4096}, {14336, 4096}, {4096, 14336}, {151936, 4096}};
  printf("\n%-14s %6s %10s %10s %8s %8s  %-10s %10s %8s %8s  %s\n", "N,K", "M", "cublas_us", "cublas_TF", "best", "best_us", "best_var", "best_TF",
         "ratio", "bw%", "all variants (us)");
  FILE* csv = fopen((std::string(outdir) + "/tc_timing.csv").c_str(), "w");
  if (csv) fprintf(csv, "N,K,M,variant,us,tflops\n");
  for (auto& nk : NKs) {
    const int N = nk[0], K = nk[1];
    size_t wbytes = (size_t)N * K * 2;
    int wcopies = (int)std::max<size_t>(2, std::min<size_t>(8, (size_t)(256ull << 20) / wbytes + 1));
    uint16_t* Wp;
    CK(cudaMalloc(&Wp, wbytes * wcopies));
    {
      std::vector<uint16_t> w((size_t)N * K);
      gen(w, true, CAT_NORMAL, K);
      for (int c = 0; c < wcopies; ++c) CK(cudaMemcpy(Wp + (size_t)c * N * K, w.data(), wbytes, cudaMemcpyHostToDevice));
    }
    for (int M : Ms) {
      if (N == 151936 && M > 4096) continue;
      if (small_only && M > 32) continue;
      size_t abytes = (size_t)M * K * 2;
      int acopies = (int)std::max<size_t>(2, std::min<size_t>(8, (size_t)(256ull << 20) / abytes + 1));
      uint16_t* Ap;
      void* Cp;
      CK(cudaMalloc(&Ap, abytes * acopies));
      CK(cudaMalloc(&Cp, (size_t)M * N * 2));
      {
        std::vector<uint16_t> a((size_t)M * K);
        gen(a, true, CAT_NORMAL, K);
        for (int c = 0; c < acopies; ++c) CK(cudaMemcpy(Ap + (size_t)c * M * K, a.data(), abytes, cudaMemcpyHostToDevice));
      }
      int copies = std::max(wcopies, acopies);
      auto args = [&](int c) { return Args{Ap + (size_t)(c % acopies) * M * K, Wp + (size_t)(c % wcopies) * N * K, nullptr, Cp, M, N, K}; };
      double flop = 2.0 * M * N * K;
      float tc = time_it([&](int c) { cublas_mm(args(c)); }, copies);
      std::string all;
      float best = 1e30f;
      int bestv = -1;
      for (int vi : tvars) {
        if (!vars[vi].ok(M, K)) continue;
        if (vars[vi].kind == 1 && M <= 16) continue;  // mma128 at tiny M: pointless
        float t = time_it([&](int c) { vars[vi].run[1][TC_OUT_BF16](args(c)); }, copies);
        char buf[64];
        snprintf(buf, sizeof buf, " %s=%.1f", vars[vi].name.c_str(), t * 1e3);
        all += buf;
        if (csv) fprintf(csv, "%d,%d,%d,%s,%.3f,%.2f\n", N, K, M, vars[vi].name.c_str(), t * 1e3, flop / (t * 1e-3) / 1e12);
        if (t < best) best = t, bestv = vi;
      }
      int dv = dispatch(M, N, K);
      float td = time_it([&](int c) { vars[dv].run[1][TC_OUT_BF16](args(c)); }, copies);
      if (csv) fprintf(csv, "%d,%d,%d,cublas,%.3f,%.2f\n%d,%d,%d,dispatch:%s,%.3f,%.2f\n", N, K, M, tc * 1e3, flop / (tc * 1e-3) / 1e12, N, K, M,
                       vars[dv].name.c_str(), td * 1e3, flop / (td * 1e-3) / 1e12);
      char bw[16] = "-";
      if (M <= 16) snprintf(bw, sizeof bw, "%.0f%%", 100.0 * (wbytes / (td * 1e-3)) / copy_bw);
      char nkb[32];
      snprintf(nkb, sizeof nkb, "%d,%d", N, K);
      printf("%-14s %6d %10.1f %10.1f %8s %8.1f  %-10s %10.1f %8.3f %8s  best=%s%s\n", nkb, M, tc * 1e3, flop / (tc * 1e-3) / 1e12, "disp", td * 1e3,
             vars[dv].name.c_str(), flop / (td * 1e-3) / 1e12, tc / td, bw, bestv >= 0 ? vars[bestv].name.c_str() : "-", all.c_str());
      fflush(stdout);
      CK(cudaFree(Ap));
      CK(cudaFree(Cp));
    }
    CK(cudaFree(Wp));
  }
  if (csv) fclose(csv);
  return 0;
}
