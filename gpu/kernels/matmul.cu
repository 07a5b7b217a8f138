// The matmul family under a k-step contract (docs/spec/matmul.md; Rust:
// reference/src/matmul/mod.rs). For every output C[i, j]:
//   1. K is cut into chunks of LS_KC (0: one chunk of all of K);
//   2. each chunk is a chain over its k in order from acc = +0 through LS_KSTEP;
//   3. chunk partials are added left to right: t = p0; t = t + p1; ...;
//   4. with a bias, t = t + bias[j];
//   5. t is rounded once to the output type (nearest even).
// The launch configuration may depend on the shape; the tree never does. With `split = 0`
// a CTA owns a tile of outputs and runs all chunks (steps 1-5). With `split = 1` (small
// M: more CTAs than tiles) CTA z runs chunk z only and stores its raw partial; then
// matmul_fma_combine_* performs steps 3-5 in chunk order. No atomics anywhere.
//
// Padding: k positions past a chunk's end are fed as a = -0, b = +0, whose product -0
// leaves every accumulator unchanged (x + -0 = x for every x, including -0 and NaN).

#define LS_MM_TM (LS_MM_BM / 16)
#define LS_MM_TN (LS_MM_BN / 16)

template <typename T, typename O>
__device__ __forceinline__ void ls_matmul(const T* __restrict__ A, const T* __restrict__ B, const float* __restrict__ bias, O* __restrict__ C,
                                          float* __restrict__ P, int M, int N, int K, int split) {
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

    __shared__ float As[LS_MM_BK][LS_MM_BM + 1];
    __shared__ float Bs[LS_MM_BK][LS_MM_BN];
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int row0 = blockIdx.y * LS_MM_BM, col0 = blockIdx.x * LS_MM_BN;

    float total[LS_MM_TM][LS_MM_TN];
    float acc[LS_MM_TM][LS_MM_TN];
    for (int c = c_begin; c < c_end; ++c) {
        const int k0 = c * kc;
        const int klen = min(kc, K - k0);
#pragma unroll
        for (int i = 0; i < LS_MM_TM; ++i)
#pragma unroll
            for (int j = 0; j < LS_MM_TN; ++j) acc[i][j] = 0.0f;
        for (int kt = 0; kt < klen; kt += LS_MM_BK) {
            for (int e = threadIdx.x; e < LS_MM_BM * LS_MM_BK; e += LS_MM_THREADS) {
                const int m = e / LS_MM_BK, kk = e % LS_MM_BK;
                const int gr = row0 + m, gk = kt + kk;
                As[kk][m] = (gr < M && gk < klen) ? ls_to_f32(A[(long long)gr * K + k0 + gk]) : -0.0f;
            }
            for (int e = threadIdx.x; e < LS_MM_BK * LS_MM_BN; e += LS_MM_THREADS) {
                const int kk = e / LS_MM_BN, n = e % LS_MM_BN;
                const int gc = col0 + n, gk = kt + kk;
                Bs[kk][n] = (gc < N && gk < klen) ? ls_to_f32(B[(long long)(k0 + gk) * N + gc]) : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < LS_MM_BK; ++kk) {
                float a[LS_MM_TM], b[LS_MM_TN];
#pragma unroll
                for (int i = 0; i < LS_MM_TM; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
                for (int j = 0; j < LS_MM_TN; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
                for (int i = 0; i < LS_MM_TM; ++i)
#pragma unroll
                    for (int j = 0; j < LS_MM_TN; ++j) acc[i][j] = LS_KSTEP(a[i], b[j], acc[i][j]);
            }
            __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < LS_MM_TM; ++i)
#pragma unroll
            for (int j = 0; j < LS_MM_TN; ++j) total[i][j] = (c == c_begin) ? acc[i][j] : __fadd_rn(total[i][j], acc[i][j]);
    }

#pragma unroll
    for (int i = 0; i < LS_MM_TM; ++i) {
        const int gr = row0 + ty + 16 * i;
        if (gr >= M) continue;
#pragma unroll
        for (int j = 0; j < LS_MM_TN; ++j) {
            const int gc = col0 + tx + 16 * j;
            if (gc >= N) continue;
            if (split) {
                P[((long long)blockIdx.z * M + gr) * N + gc] = total[i][j];
            } else {
                float t = total[i][j];
                if (bias) t = __fadd_rn(t, bias[gc]);
                C[((long long)batch * M + gr) * N + gc] = ls_from_f32<O>(t);
            }
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

#define LS_MATMUL_KERNEL(SUFFIX, T, O)                                                                                                 \
    extern "C" __global__ void __launch_bounds__(LS_MM_THREADS)                                                                        \
        matmul_fma_##SUFFIX(const T* A, const T* B, const float* bias, O* C, float* P, int M, int N, int K, int split) { \
        ls_matmul<T, O>(A, B, bias, C, P, M, N, K, split);                                                                            \
    }
LS_FOR_ALL_PAIRS(LS_MATMUL_KERNEL)

#define LS_MATMUL_COMBINE_KERNEL(SUFFIX, O)                                                                                          \
    extern "C" __global__ void matmul_fma_combine_##SUFFIX(const float* P, const float* bias, O* C, int M, int N, int K, int batches) { \
        ls_matmul_combine<O>(P, bias, C, M, N, K, batches);                                                                            \
    }
LS_FOR_ALL_TYPES(LS_MATMUL_COMBINE_KERNEL)
