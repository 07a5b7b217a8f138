// The matmul family under a k-step contract (docs/spec/matmul.md; Rust:
// reference/src/matmul/mod.rs). For every output C[i, j]:
//   1. K is cut into chunks of LS_KC (0: one chunk of all of K);
//   2. each chunk is a chain over its k in order from acc = +0 through LS_KSTEP;
//   3. chunk partials are added left to right: t = p0; t = t + p1; ...;
//   4. with a bias, t = t + bias[j];
//   5. t is rounded once to the output type (nearest even).
// The launch configuration may depend on the shape; the tree never does. Two kernel shapes
// (gpu/src/ops/matmul.rs `plan` picks one):
//   - tiles (`matmul_fma_*`: 128 × 128 outputs per CTA; `matmul_fma_half_*`: 64 × 128),
//     a SIMT SGEMM: k-slices of LS_MM_BK staged in shared memory (double buffered), each
//     thread holding an 8 × 8 (or 4 × 8) block of accumulators in registers;
//   - skinny (`matmul_fma_mr{4,8,16}_*` and their `_lean_*` twins, M ≤ 4 / 8 / 16): every
//     thread owns a few columns for all M rows, B is streamed once from global memory, A
//     comes from shared memory.
// Both take `split`: with `split = 0` a CTA runs all chunks of its outputs (steps 1-5);
// with `split = 1` CTA z runs chunk z % chunks only and stores its raw partial, and
// matmul_fma_combine_* performs steps 3-5 in chunk order. The skinny kernel also takes
// `split = 2` (sm_90): as 1, but the chunks of a column block are one thread-block cluster
// that performs steps 3-5 itself, reading the partials from each other's shared memory.
// No atomics anywhere.
//
// Padding: k positions past a chunk's end are fed as a = -0, b = +0, whose product -0
// leaves every accumulator unchanged (x + -0 = x for every x, including -0 and NaN); the
// skinny kernel skips them, which is the same thing.

#ifndef LS_MM_BN
#error "LS_MM_BN is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
#ifndef LS_MM_BM_HALF
#error "LS_MM_BM_HALF is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
#ifndef LS_MM_SK_THREADS
#error "LS_MM_SK_THREADS is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
#ifndef LS_MM_CLUSTER_MAX
#error "LS_MM_CLUSTER_MAX is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
#ifndef LS_MM_SK_KS
#error "LS_MM_SK_KS is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
// The tile kernel's thread and load mapping is written for exactly this geometry: 16 × 16
// threads, each owning 4-row × 4-column quadrants 64 apart; one 4-wide A load and one
// 4-wide B load per thread per k-slice.
#if LS_MM_THREADS != 256 || LS_MM_BN != 128 || LS_MM_BK != 8 || LS_MM_BM != 128 || LS_MM_BM_HALF != 64
#error "matmul.cu's tile mapping needs LS_MM_THREADS 256, LS_MM_BN 128, LS_MM_BK 8, LS_MM_BM 128, LS_MM_BM_HALF 64"
#endif

// LB bytes of T as loaded (LB = 8: 2 f32 or 4 bf16/f16 elements; LB = 4: 1 f32 or 2
// bf16/f16), and widened: the skinny kernel keeps its loads in flight raw (half the
// registers of widened bf16/f16) and widens them on use.
template <int LB> struct LsRaw;
template <> struct LsRaw<8> { typedef uint2 type; };
template <> struct LsRaw<4> { typedef unsigned type; };
template <int LB> __device__ __forceinline__ typename LsRaw<LB>::type ls_ldraw(const void* p) {
    return *reinterpret_cast<const typename LsRaw<LB>::type*>(p);
}
__device__ __forceinline__ void ls_widen(unsigned x, const float*, float v[1]) { v[0] = __uint_as_float(x); }
__device__ __forceinline__ void ls_widen(unsigned x, const ls_bf16*, float v[2]) {
    v[0] = __uint_as_float(x << 16), v[1] = __uint_as_float(x & 0xffff0000u);
}
__device__ __forceinline__ void ls_widen(unsigned x, const ls_f16*, float v[2]) {
    ls_f16 h[2];
    h[0].bits = (unsigned short)(x & 0xffffu), h[1].bits = (unsigned short)(x >> 16);
    v[0] = ls_to_f32(h[0]), v[1] = ls_to_f32(h[1]);
}
__device__ __forceinline__ void ls_widen(uint2 x, const float* t, float v[2]) { ls_widen(x.x, t, v), ls_widen(x.y, t, v + 1); }
template <typename T> __device__ __forceinline__ void ls_widen(uint2 x, const T* t, float v[4]) { ls_widen(x.x, t, v), ls_widen(x.y, t, v + 2); }
// Four consecutive elements as floats from a pointer aligned to 4 elements (one 16- or
// 8-byte load). Widening is exact.
__device__ __forceinline__ void ls_load4(const float* p, float v[4]) {
    const float4 x = *reinterpret_cast<const float4*>(p);
    v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
}
template <typename T> __device__ __forceinline__ void ls_load4(const T* p, float v[4]) { ls_widen(ls_ldraw<8>(p), p, v); }
// Two consecutive elements (one 8- or 4-byte load), pointer aligned to 2 elements.
__device__ __forceinline__ void ls_load2(const float* p, float v[2]) { ls_widen(ls_ldraw<8>(p), p, v); }
template <typename T> __device__ __forceinline__ void ls_load2(const T* p, float v[2]) { ls_widen(ls_ldraw<4>(p), p, v); }
template <int W, typename T> __device__ __forceinline__ void ls_loadw(const T* p, float v[W]) {
    if constexpr (W == 4) ls_load4(p, v);
    else if constexpr (W == 2) ls_load2(p, v);
    else v[0] = ls_to_f32(*p);
}

template <typename T> __device__ __forceinline__ bool ls_aligned(const T* p, int elems) {
    return ((unsigned long long)p % (unsigned long long)(elems * sizeof(T))) == 0;
}

// One output element: steps 4-5, or the raw partial of a split launch.
template <typename O>
__device__ __forceinline__ void ls_mm_store(O* __restrict__ C, float* __restrict__ P, const float* __restrict__ bias, long long cidx, long long pidx, int gc,
                                            float t, int split) {
    if (split) {
        P[pidx] = t;
    } else {
        if (bias) t = __fadd_rn(t, bias[gc]);
        C[cidx] = ls_from_f32<O>(t);
    }
}

// ---- tile kernel ----
// CTA tile BM × 128 (BM = 64·RQ), 256 threads as a 16 × 16 grid (tr, tc); thread (tr, tc)
// owns rows q·64 + 4·tr + i (q < RQ, i < 4) and columns h·64 + 4·tc + j (h < 2, j < 4). A
// warp covers 4 tr × 8 tc, so each 16-byte fragment read of As (4 addresses) and Bs (8
// addresses) is one shared-memory wavefront. As is stored k-major (transposed), rows
// padded by 4 floats so the transposing stores of a warp hit 32 distinct banks.
// The running chunk sums (step 3) live in dynamic shared memory, LS_MM_TOTALS(BM) floats,
// thread-major (entry e of thread t at e·256 + t: conflict-free), not in registers: they
// are touched once per chunk, and keeping them out of registers leaves room for two CTAs
// per SM.
#define LS_MM_TOTALS(BM) ((BM) * LS_MM_BN)
#ifdef LS_HOST_EMULATION
// Emulation runs one block at a time: one static array stands for the dynamic allocation.
static float ls_mm_dyn_smem[LS_MM_TOTALS(LS_MM_BM)];
#define LS_MM_DYN_SMEM ls_mm_dyn_smem
#else
extern __shared__ __align__(16) float ls_mm_dyn_smem[];
#define LS_MM_DYN_SMEM ls_mm_dyn_smem
#endif

// Global → registers, 4 consecutive k of one A row (a = -0 past the chunk or past M).
template <typename T>
__device__ __forceinline__ void ls_mm_fetch_a(const T* __restrict__ A, long long base, bool row_ok, int kleft, bool vec, float r[4]) {
    if (vec && row_ok && kleft >= 4) {
        ls_load4(A + base, r);
    } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) r[e] = (row_ok && e < kleft) ? ls_to_f32(A[base + e]) : -0.0f;
    }
}
// Global → registers, 4 consecutive n of one B row (b = +0 past the chunk or past N).
template <typename T>
__device__ __forceinline__ void ls_mm_fetch_b(const T* __restrict__ B, long long base, bool k_ok, int nleft, bool vec, float r[4]) {
    if (vec && k_ok && nleft >= 4) {
        ls_load4(B + base, r);
    } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) r[e] = (k_ok && e < nleft) ? ls_to_f32(B[base + e]) : 0.0f;
    }
}

template <typename T, typename O, int RQ>
__device__ __forceinline__ void ls_matmul_tile(const T* __restrict__ A, const T* __restrict__ B, const float* __restrict__ bias, O* __restrict__ C,
                                               float* __restrict__ P, int M, int N, int K, int split) {
    constexpr int BM = 64 * RQ, BN = LS_MM_BN, BK = LS_MM_BK, TM = 4 * RQ, NT = LS_MM_THREADS;
    const int kc = LS_KC > 0 ? LS_KC : K;
    const int nchunks = (K + kc - 1) / kc;
    int batch, c_begin, c_end;
    if (split) {
        batch = blockIdx.z / nchunks;
        c_begin = blockIdx.z % nchunks;
        c_end = c_begin + 1;
    } else {
        batch = blockIdx.z;
        c_begin = 0;
        c_end = nchunks;
    }
    A += (long long)batch * M * K;
    B += (long long)batch * K * N;

    __shared__ __align__(16) float As[2][BK][BM + 4];
    __shared__ __align__(16) float Bs[2][BK][BN];
    float* Ts = LS_MM_DYN_SMEM;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int tr = (warp / 2) * 4 + lane / 8, tc = (warp % 2) * 8 + lane % 8;
    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;

    // Global → register staging: thread t loads A[row0 + t/2][4·(t%2) ..+4] (threads
    // t < 2·BM) and B[t/32][col0 + 4·(t%32) ..+4] of the k-slice.
    const int am = tid / 2, ak = (tid % 2) * 4;
    const bool a_loader = tid < 2 * BM;
    const bool a_row_ok = row0 + am < M;
    const int bk = tid / 32, bn = (tid % 32) * 4;
    // Whole aligned 4-vectors: every chunk start and every row length are multiples of 4.
    const bool a_vec = K % 4 == 0 && kc % 4 == 0 && ls_aligned(A, 4);
    const bool b_vec = N % 4 == 0 && ls_aligned(B, 4);
    const long long a_row = (long long)(row0 + am) * K + ak;
    float ra[4], rb[4];

    float acc[TM][8];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    // Slices run in (chunk, slice) order; s counts slices within chunk c.
    int c = c_begin, s = 0, buf = 0;
    int klen = min(kc, K - c * kc);
#define LS_MM_FETCH(c_, s_, klen_)                                                                                               \
    do {                                                                                                                         \
        const int k0_ = (c_) * kc, kp_ = (s_) * BK;                                                                              \
        if (a_loader) ls_mm_fetch_a(A, a_row + k0_ + kp_, a_row_ok, (klen_) - kp_ - ak, a_vec, ra);                            \
        ls_mm_fetch_b(B, (long long)(k0_ + kp_ + bk) * N + col0 + bn, kp_ + bk < (klen_), N - col0 - bn, b_vec, rb);         \
    } while (0)
#define LS_MM_STASH(buf_)                                                                                                        \
    do {                                                                                                                         \
        if (a_loader) {                                                                                                          \
            _Pragma("unroll") for (int e = 0; e < 4; ++e) As[buf_][ak + e][am] = ra[e];                                         \
        }                                                                                                                        \
        *reinterpret_cast<float4*>(&Bs[buf_][bk][bn]) = make_float4(rb[0], rb[1], rb[2], rb[3]);                              \
    } while (0)
    LS_MM_FETCH(c, s, klen);
    LS_MM_STASH(0);
    __syncthreads();
    for (;;) {
        // The next slice; its global loads are in flight during this slice's math.
        int nc = c, ns = s + 1, nklen = klen;
        if (ns * BK >= klen) {
            nc = c + 1, ns = 0;
            nklen = min(kc, K - nc * kc);
        }
        const bool more = nc < c_end;
        if (more) LS_MM_FETCH(nc, ns, nklen);
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float a[TM], b[8];
#pragma unroll
            for (int q = 0; q < RQ; ++q) {
                const float4 v = *reinterpret_cast<const float4*>(&As[buf][kk][q * 64 + tr * 4]);
                a[4 * q] = v.x, a[4 * q + 1] = v.y, a[4 * q + 2] = v.z, a[4 * q + 3] = v.w;
            }
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const float4 v = *reinterpret_cast<const float4*>(&Bs[buf][kk][h * 64 + tc * 4]);
                b[4 * h] = v.x, b[4 * h + 1] = v.y, b[4 * h + 2] = v.z, b[4 * h + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] = LS_KSTEP(a[i], b[j], acc[i][j]);
        }
        if (ns == 0) {
            // Chunk c is complete: step 3 in chunk order. The last chunk leaves the final
            // sum in acc; earlier ones store it in Ts and restart the chain from +0.
            const bool first = c == c_begin, last = !more;
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) {
                    float* t = &Ts[(i * 8 + j) * NT + tid];
                    const float v = first ? acc[i][j] : __fadd_rn(*t, acc[i][j]);
                    if (last) {
                        acc[i][j] = v;
                    } else {
                        *t = v;
                        acc[i][j] = 0.0f;
                    }
                }
        }
        if (!more) break;
        // One barrier per slice: buf^1 was last read before the previous barrier.
        LS_MM_STASH(buf ^ 1);
        __syncthreads();
        buf ^= 1, c = nc, s = ns, klen = nklen;
    }
#undef LS_MM_FETCH
#undef LS_MM_STASH

#pragma unroll
    for (int q = 0; q < RQ; ++q)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int gr = row0 + q * 64 + tr * 4 + i;
            if (gr >= M) continue;
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int gc = col0 + h * 64 + tc * 4 + j;
                    if (gc >= N) continue;
                    // Partials: P[z][M][N] with z = batch · chunks + chunk (the grid's z).
                    ls_mm_store<O>(C, P, bias, ((long long)batch * M + gr) * N + gc, ((long long)blockIdx.z * M + gr) * N + gc, gc,
                                   acc[4 * q + i][4 * h + j], split);
                }
        }
}

// ---- skinny kernel (M ≤ MR) ----
// Each thread owns W = LB / sizeof(T) consecutive columns for all MR rows (LB = 8 bytes, 4 in
// the narrow kernels); B is read once, LB bytes per thread per k row, in groups of U rows (16,
// or 8 in the lean kernels); for MR > 4 the next group's loads are issued (kept raw) before
// this group's fmas, so they are in flight while it computes. A's rows for
// LS_MM_SK_KS k at a time sit in shared memory k-major, so a thread reads all MR values of
// one k as MR/4 broadcast 16-byte loads. The chunk totals live in shared memory (one column
// per thread), which leaves the registers to the accumulators and the loads in flight.

// One k step of the skinny kernel: acc[i][j] = kstep(A[i][k], B[k][j], acc[i][j]).
template <int MR, int W>
__device__ __forceinline__ void ls_skinny_k(const float* as, const float b[W], float (&acc)[MR][W]) {
    float a[MR];
#pragma unroll
    for (int i = 0; i < MR; i += 4) {
        const float4 v = *reinterpret_cast<const float4*>(as + i);
        a[i] = v.x, a[i + 1] = v.y, a[i + 2] = v.z, a[i + 3] = v.w;
    }
#pragma unroll
    for (int i = 0; i < MR; ++i)
#pragma unroll
        for (int j = 0; j < W; ++j) acc[i][j] = LS_KSTEP(a[i], b[j], acc[i][j]);
}

#ifdef LS_HOST_EMULATION
// Emulation runs the blocks of a cluster together, where `__shared__` would be one array for
// all of them: the skinny kernel's arrays are each block's own, in its dynamic shared memory
// (sizeof of this, which the harness allocates).
template <typename T, int MR, int LB> struct LsSkinnyEmuShared {
    alignas(16) float As[LS_MM_SK_KS][MR];
    float Ts[MR * (LB / (int)sizeof(T))][LS_MM_SK_THREADS];
};
#endif
template <typename T, typename O, int MR, int U, int LB = 8>
__device__ __forceinline__ void ls_matmul_skinny(const T* __restrict__ A, const T* __restrict__ B, const float* __restrict__ bias, O* __restrict__ C,
                                                 float* __restrict__ P, int M, int N, int K, int split) {
    constexpr int W = LB / (int)sizeof(T), KS = LS_MM_SK_KS;
    typedef typename LsRaw<LB>::type Raw;
    static_assert(MR % 4 == 0, "rows come as float4 broadcasts");
    const int kc = LS_KC > 0 ? LS_KC : K;
    const int nchunks = (K + kc - 1) / kc;
    int batch, c_begin, c_end;
    if (split) {
        batch = blockIdx.z / nchunks;
        c_begin = blockIdx.z % nchunks;
        c_end = c_begin + 1;
    } else {
        batch = blockIdx.z;
        c_begin = 0;
        c_end = nchunks;
    }
    A += (long long)batch * M * K;
    B += (long long)batch * K * N;

#ifdef LS_HOST_EMULATION
    LsSkinnyEmuShared<T, MR, LB>& S = *reinterpret_cast<LsSkinnyEmuShared<T, MR, LB>*>(ls_dyn_smem());
    auto& As = S.As;
    auto& Ts = S.Ts;
#else
    __shared__ __align__(16) float As[KS][MR];
    __shared__ float Ts[MR * W][LS_MM_SK_THREADS];  // chunk totals: thread t's in column t
#endif
    const int j0 = (blockIdx.x * LS_MM_SK_THREADS + threadIdx.x) * W;
    const bool active = j0 < N;
    const bool vec = N % W == 0 && ls_aligned(B, W);
    float* ts = &Ts[0][threadIdx.x];

    float acc[MR][W];
    for (int c = c_begin; c < c_end; ++c) {
        const int k0 = c * kc, klen = min(kc, K - k0);
#pragma unroll
        for (int i = 0; i < MR; ++i)
#pragma unroll
            for (int j = 0; j < W; ++j) acc[i][j] = 0.0f;
        for (int s0 = 0; s0 < klen; s0 += KS) {
            const int slen = min(KS, klen - s0);
            __syncthreads();  // the previous stage's reads of As are done
            for (int e = threadIdx.x; e < KS * MR; e += LS_MM_SK_THREADS) {
                const int kk = e / MR, m = e % MR;
                As[kk][m] = (m < M && kk < slen) ? ls_to_f32(A[(long long)m * K + k0 + s0 + kk]) : 0.0f;
            }
            __syncthreads();
            if (!active) continue;
            const T* bp = B + (long long)(k0 + s0) * N + j0;
            // k in order: full groups of U rows, then the rest one by one.
            int kk = 0;
            if (MR > 4 && vec) {  // (measured: mr4 reads faster without the pipeline, docs/perf.md)
                const int groups = slen / U;
                Raw next[U];
                if (groups > 0) {
#pragma unroll
                    for (int u = 0; u < U; ++u) next[u] = ls_ldraw<LB>(bp + (long long)u * N);
                }
                for (int g = 0; g < groups; ++g, kk += U) {
                    Raw cur[U];
#pragma unroll
                    for (int u = 0; u < U; ++u) cur[u] = next[u];
                    if (g + 1 < groups) {
#pragma unroll
                        for (int u = 0; u < U; ++u) next[u] = ls_ldraw<LB>(bp + (long long)(kk + U + u) * N);
                    }
#pragma unroll
                    for (int u = 0; u < U; ++u) {
                        float b[W];
                        ls_widen(cur[u], B, b);
                        ls_skinny_k<MR, W>(&As[kk + u][0], b, acc);
                    }
                }
            }
            for (; kk + U <= slen; kk += U) {
                float b[U][W];
                if (vec) {
#pragma unroll
                    for (int u = 0; u < U; ++u) ls_loadw<W>(bp + (long long)(kk + u) * N, b[u]);
                } else {
#pragma unroll
                    for (int u = 0; u < U; ++u)
#pragma unroll
                        for (int j = 0; j < W; ++j) b[u][j] = j0 + j < N ? ls_to_f32(bp[(long long)(kk + u) * N + j]) : 0.0f;
                }
#pragma unroll
                for (int u = 0; u < U; ++u) ls_skinny_k<MR, W>(&As[kk + u][0], b[u], acc);
            }
            for (; kk < slen; ++kk) {
                float b[W];
                if (vec) {
                    ls_loadw<W>(bp + (long long)kk * N, b);
                } else {
#pragma unroll
                    for (int j = 0; j < W; ++j) b[j] = j0 + j < N ? ls_to_f32(bp[(long long)kk * N + j]) : 0.0f;
                }
                ls_skinny_k<MR, W>(&As[kk][0], b, acc);
            }
        }
#pragma unroll
        for (int i = 0; i < MR; ++i)
#pragma unroll
            for (int j = 0; j < W; ++j) {
                float* t = ts + (i * W + j) * LS_MM_SK_THREADS;
                *t = (c == c_begin) ? acc[i][j] : __fadd_rn(*t, acc[i][j]);
            }
    }
#if __CUDA_ARCH__ >= 900 || defined(LS_HOST_EMULATION)
    if (split == 2) {
        // The chunks of this column block are the CTAs of one cluster (rank = chunk), each
        // holding its chunk's partials in Ts. Rank r adds up rows r, r + Z, … of Ts (one
        // (i, j) pair each, thread t's column t) over the chunks in order (step 3), then
        // steps 4-5; partials never leave the cluster.
        const unsigned Z = ls_cluster_size(), r = ls_cluster_rank();
        if (Z != (unsigned)nchunks || Z > LS_MM_CLUSTER_MAX) __trap();  // the launch plan never does this
        ls_cluster_sync();
        for (unsigned e = r; e < (unsigned)(MR * W); e += Z) {
            const int i = (int)e / W, gc = j0 + (int)e % W;
            if (i >= M) break;
            float* mine = &Ts[e][threadIdx.x];
            float v[LS_MM_CLUSTER_MAX];  // every load in flight before the adds
#pragma unroll
            for (unsigned c = 0; c < LS_MM_CLUSTER_MAX; ++c)
                if (c < Z) v[c] = *ls_map_rank(mine, c);
            float t = v[0];
#pragma unroll
            for (unsigned c = 1; c < LS_MM_CLUSTER_MAX; ++c)
                if (c < Z) t = __fadd_rn(t, v[c]);
            if (active && gc < N) ls_mm_store<O>(C, P, bias, ((long long)batch * M + i) * N + gc, 0, gc, t, 0);
        }
        ls_cluster_sync();  // no CTA leaves while another reads its partials
        return;
    }
#else
    if (split == 2) __trap();  // clusters are sm_90's: the launch plan never does this
#endif
    if (!active) return;
#pragma unroll
    for (int i = 0; i < MR; ++i) {
        if (i >= M) break;
#pragma unroll
        for (int j = 0; j < W; ++j) {
            const int gc = j0 + j;
            if (gc >= N) continue;
            ls_mm_store<O>(C, P, bias, ((long long)batch * M + i) * N + gc, ((long long)blockIdx.z * M + i) * N + gc, gc,
                           ts[(i * W + j) * LS_MM_SK_THREADS], split);
        }
    }
}

// Steps 3-5 over the partials P[batch][chunk][M][N] written by a split launch.
template <typename O>
__device__ __forceinline__ void ls_matmul_combine(const float* __restrict__ P, const float* __restrict__ bias, O* __restrict__ C, int M, int N, int K,
                                                  int batches) {
    const int kc = LS_KC > 0 ? LS_KC : K;
    const int nchunks = (K + kc - 1) / kc;
    const long long mn = (long long)M * N;
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= mn * batches) return;
    const long long b = idx / mn, r = idx % mn;
    const float* p = P + b * nchunks * mn + r;
    float t = p[0];
    for (int c = 1; c < nchunks; ++c) t = __fadd_rn(t, p[c * mn]);
    if (bias) t = __fadd_rn(t, bias[r % N]);
    C[idx] = ls_from_f32<O>(t);
}

// The skinny kernels of MR rows: `matmul_fma_mrMR_*` (16 k rows of B per group, registers
// unbounded), `matmul_fma_mrMR_lean_*` (8 rows per group, registers for 3 CTAs per SM; 6 for
// f32 `mr4`, which nvcc fits in 80 registers unbounded but NVRTC's PTX needed 111 for, so a
// vocabulary grid of 594 CTAs ran as a wave of 528 and a tail: LS_MM_LEAN_CTAS) and
// `matmul_fma_mrMR_narrow_*` (4 bytes of B per thread and k row: twice the threads per
// output block, registers for 4 CTAs per SM). Which one is fastest depends on how many
// CTAs the grid has per SM (docs/perf.md; the plan is ops/matmul.rs `skinny_plan`).
#define LS_MM_LEAN_CTAS(MR, T) ((MR) == 4 && sizeof(T) == 4 ? 6 : 3)
#define LS_MATMUL_SKINNY_KERNELS(SUFFIX, T, O, MR)                                                                                          \
    extern "C" __global__ void __launch_bounds__(LS_MM_SK_THREADS, 1)                                                                       \
        matmul_fma_mr##MR##_##SUFFIX(const T* A, const T* B, const float* bias, O* C, float* P, int M, int N, int K, int split) {        \
        ls_matmul_skinny<T, O, MR, 16>(A, B, bias, C, P, M, N, K, split);                                                                \
    }                                                                                                                                        \
    extern "C" __global__ void __launch_bounds__(LS_MM_SK_THREADS, LS_MM_LEAN_CTAS(MR, T))                                                  \
        matmul_fma_mr##MR##_lean_##SUFFIX(const T* A, const T* B, const float* bias, O* C, float* P, int M, int N, int K, int split) {   \
        ls_matmul_skinny<T, O, MR, 8>(A, B, bias, C, P, M, N, K, split);                                                                 \
    }                                                                                                                                        \
    extern "C" __global__ void __launch_bounds__(LS_MM_SK_THREADS, 4)                                                                       \
        matmul_fma_mr##MR##_narrow_##SUFFIX(const T* A, const T* B, const float* bias, O* C, float* P, int M, int N, int K, int split) { \
        ls_matmul_skinny<T, O, MR, 16, 4>(A, B, bias, C, P, M, N, K, split);                                                             \
    }

// Every kernel of the family takes the same arguments; the launcher's plan picks one.
#define LS_MATMUL_KERNELS(SUFFIX, T, O)                                                                                                     \
    extern "C" __global__ void __launch_bounds__(LS_MM_THREADS, 2)                                                                          \
        matmul_fma_##SUFFIX(const T* A, const T* B, const float* bias, O* C, float* P, int M, int N, int K, int split) {                   \
        ls_matmul_tile<T, O, LS_MM_BM / 64>(A, B, bias, C, P, M, N, K, split);                                                             \
    }                                                                                                                                        \
    extern "C" __global__ void __launch_bounds__(LS_MM_THREADS, 2)                                                                          \
        matmul_fma_half_##SUFFIX(const T* A, const T* B, const float* bias, O* C, float* P, int M, int N, int K, int split) {              \
        ls_matmul_tile<T, O, LS_MM_BM_HALF / 64>(A, B, bias, C, P, M, N, K, split);                                                        \
    }                                                                                                                                        \
    LS_MATMUL_SKINNY_KERNELS(SUFFIX, T, O, 4)                                                                                               \
    LS_MATMUL_SKINNY_KERNELS(SUFFIX, T, O, 8)                                                                                               \
    LS_MATMUL_SKINNY_KERNELS(SUFFIX, T, O, 16)
LS_FOR_ALL_PAIRS(LS_MATMUL_KERNELS)

#define LS_MATMUL_COMBINE_KERNEL(SUFFIX, O)                                                                                          \
    extern "C" __global__ void matmul_fma_combine_##SUFFIX(const float* P, const float* bias, O* C, int M, int N, int K, int batches) { \
        ls_matmul_combine<O>(P, bias, C, M, N, K, batches);                                                                            \
    }
LS_FOR_ALL_TYPES(LS_MATMUL_COMBINE_KERNEL)
