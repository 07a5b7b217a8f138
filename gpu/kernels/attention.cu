// Causal attention over a KV cache, and the KV-cache append (docs/spec/attention.md; Rust:
// reference/src/attention/). One tree for prefill, chunked prefill and decode: every output
// row (query token at absolute position p, query head h) attends to keys first..=p of its
// sequence and KV head h / (Hq / Hkv), first = 0 or p + 1 - W with a window of W keys.
//
// Kernel 1, attn_split_{T}: one block per (row, head, split). Split s covers keys
// [s*S, (s+1)*S) (S = LS_ATTN_SPLIT) intersected with first..=p; inside it, blocks of
// BN = LS_ATTN_BLOCK keys aligned at 0. Per block: the block's scores (thread i: key i,
// score = fma chain over d from +0, then * scale) into shared memory; mb = max2 over them in
// key order from -inf (every thread, the same bits); first block: m = mb, l = +0, acc = +0;
// later: m' = max2(m, mb), alpha = exp(m - m'), l = l*alpha, acc_d = acc_d*alpha, m = m';
// then per key in order e = exp(score - m), l = l + e, acc_d = fma(e, v_d, acc_d). Each
// thread owns dims d = tid, tid + blockDim, ... and keeps acc in the block's state slot
// (global scratch [rows*Hq][splits][2 + D]: m, l, acc); every thread carries m and l.
//
// Kernel 2, attn_merge_{O}: one thread per (row, head, dim): the row's splits merged left
// to right, M = max2(M_a, m_b), a = exp(M_a - M), b = exp(m_b - M), L = L*a + l_b*b,
// A = A*a + acc*b (two products, one sum), out = A / L rounded once to O. No atomics: the
// order is the split index, never arrival.
//
// Storage row of position t of sequence s: base[s] + t, or with pages (table != 0)
// table[s*max_blocks + t/P]*P + t%P; element (row, kv head, dim) at (row*Hkv + head)*D + dim.
// Only keys first..=p are read, so unwritten slots and unused table entries are never read.

#ifndef LS_ATTN_BLOCK
#error "LS_ATTN_BLOCK is not defined: compile through gpu/src/kernels.rs (generated contract header)"
#endif
#ifndef LS_ATTN_SPLIT
#error "LS_ATTN_SPLIT is not defined: compile through gpu/src/kernels.rs (generated contract header)"
#endif
#ifndef LS_ATTN_THREADS
#error "LS_ATTN_THREADS is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif

__device__ __forceinline__ long long ls_kv_row(const long long* __restrict__ base, const long long* __restrict__ table, long long page,
                                               long long max_blocks, long long s, long long t) {
    if (table) return table[s * max_blocks + t / page] * page + t % page;
    return base[s] + t;
}

// First key a query at position p sees (window 0: no window).
__device__ __forceinline__ long long ls_attn_first(long long p, long long window) { return (window > 0 && p + 1 > window) ? p + 1 - window : 0; }

template <typename T>
__device__ __forceinline__ void ls_attn_split(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                              const long long* __restrict__ rows, const long long* __restrict__ base,
                                              const long long* __restrict__ table, long long page, long long max_blocks, int hq, int hkv,
                                              int d, float scale, long long window, float* __restrict__ st, int nsplit) {
    __shared__ float sc[LS_ATTN_BLOCK];
    const long long rh = blockIdx.x;  // row * hq + head
    const long long row = rh / hq;
    const int h = (int)(rh % hq);
    const long long seq = rows[2 * row], pos = rows[2 * row + 1];
    const long long first = ls_attn_first(pos, window);
    const long long s = first / LS_ATTN_SPLIT + blockIdx.y;
    if (s > pos / LS_ATTN_SPLIT) return;  // the same for the whole block: no barrier is skipped by some threads only
    const long long lo = first > s * LS_ATTN_SPLIT ? first : s * LS_ATTN_SPLIT;
    const long long hi = pos < s * LS_ATTN_SPLIT + LS_ATTN_SPLIT - 1 ? pos : s * LS_ATTN_SPLIT + LS_ATTN_SPLIT - 1;
    const int kh = h / (hq / hkv);
    const T* qr = q + rh * d;
    float* out = st + (rh * nsplit + blockIdx.y) * (long long)(2 + d);
    float* acc = out + 2;
    float m = 0.0f, l = 0.0f;
    for (long long b = lo / LS_ATTN_BLOCK; b <= hi / LS_ATTN_BLOCK; ++b) {
        const long long blo = lo > b * LS_ATTN_BLOCK ? lo : b * LS_ATTN_BLOCK;
        const long long bhi = hi < b * LS_ATTN_BLOCK + LS_ATTN_BLOCK - 1 ? hi : b * LS_ATTN_BLOCK + LS_ATTN_BLOCK - 1;
        const int cnt = (int)(bhi - blo + 1);
        for (int i = threadIdx.x; i < cnt; i += blockDim.x) {
            const T* kr = k + (ls_kv_row(base, table, page, max_blocks, seq, blo + i) * hkv + kh) * d;
            float sdot = 0.0f;
            for (int j = 0; j < d; ++j) sdot = __fmaf_rn(ls_to_f32(qr[j]), ls_to_f32(kr[j]), sdot);
            sc[i] = __fmul_rn(sdot, scale);
        }
        __syncthreads();
        float mb = __int_as_float(0xff800000);
        for (int i = 0; i < cnt; ++i) mb = ls_max2(mb, sc[i]);
        if (b == lo / LS_ATTN_BLOCK) {
            m = mb;
            l = 0.0f;
            for (int j = threadIdx.x; j < d; j += blockDim.x) acc[j] = 0.0f;
        } else {
            const float mn = ls_max2(m, mb);
            const float alpha = ls_exp(__fsub_rn(m, mn));
            l = __fmul_rn(l, alpha);
            for (int j = threadIdx.x; j < d; j += blockDim.x) acc[j] = __fmul_rn(acc[j], alpha);
            m = mn;
        }
        for (int i = 0; i < cnt; ++i) {
            const float e = ls_exp(__fsub_rn(sc[i], m));
            l = __fadd_rn(l, e);
            const T* vr = v + (ls_kv_row(base, table, page, max_blocks, seq, blo + i) * hkv + kh) * d;
            for (int j = threadIdx.x; j < d; j += blockDim.x) acc[j] = __fmaf_rn(e, ls_to_f32(vr[j]), acc[j]);
        }
        __syncthreads();  // sc is rewritten by the next block
    }
    if (threadIdx.x == 0) {
        out[0] = m;
        out[1] = l;
    }
}

template <typename O>
__device__ __forceinline__ void ls_attn_merge(const float* __restrict__ st, const long long* __restrict__ rows, O* __restrict__ y, long long n,
                                              int hq, int d, long long window, int nsplit) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n * hq * d) return;
    const int j = (int)(idx % d);
    const long long rh = idx / d;
    const long long row = rh / hq;
    const long long pos = rows[2 * row + 1];
    const long long first = ls_attn_first(pos, window);
    const long long splits = pos / LS_ATTN_SPLIT - first / LS_ATTN_SPLIT + 1;
    const float* s0 = st + rh * nsplit * (long long)(2 + d);
    float M = s0[0], L = s0[1], A = s0[2 + j];
    for (long long sy = 1; sy < splits; ++sy) {
        const float* sb = s0 + sy * (2 + d);
        const float mb = sb[0];
        const float mn = ls_max2(M, mb);
        const float fa = ls_exp(__fsub_rn(M, mn)), fb = ls_exp(__fsub_rn(mb, mn));
        L = __fadd_rn(__fmul_rn(L, fa), __fmul_rn(sb[1], fb));
        A = __fadd_rn(__fmul_rn(A, fa), __fmul_rn(sb[2 + j], fb));
        M = mn;
    }
    y[idx] = ls_from_f32<O>(__fdiv_rn(A, L));
}

// KV append: a pure copy. Pair i = (storage row dest[2i], new token dest[2i+1]); the host
// keeps one writer per storage row (the last in token order, as the reference's sequential
// copy leaves it), so no two threads write the same element.
template <typename T>
__device__ __forceinline__ void ls_kv_append(const T* __restrict__ kn, const T* __restrict__ vn, T* __restrict__ kc, T* __restrict__ vc,
                                             const long long* __restrict__ dest, long long pairs, long long width) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= pairs * width) return;
    const long long i = idx / width, j = idx % width;
    const long long to = dest[2 * i] * width + j, from = dest[2 * i + 1] * width + j;
    kc[to] = kn[from];
    vc[to] = vn[from];
}

#define LS_ATTN_KERNELS(SUFFIX, T)                                                                                                             \
    extern "C" __global__ void __launch_bounds__(LS_ATTN_THREADS)                                                                            \
        attn_split_##SUFFIX(const T* q, const T* k, const T* v, const long long* rows, const long long* base, const long long* table,         \
                            long long page, long long max_blocks, int hq, int hkv, int d, float scale, long long window, float* st, int nsplit) { \
        ls_attn_split<T>(q, k, v, rows, base, table, page, max_blocks, hq, hkv, d, scale, window, st, nsplit);                                \
    }                                                                                                                                        \
    extern "C" __global__ void attn_merge_##SUFFIX(const float* st, const long long* rows, T* y, long long n, int hq, int d, long long window,  \
                                                   int nsplit) {                                                                             \
        ls_attn_merge<T>(st, rows, y, n, hq, d, window, nsplit);                                                                             \
    }                                                                                                                                        \
    extern "C" __global__ void kv_append_##SUFFIX(const T* kn, const T* vn, T* kc, T* vc, const long long* dest, long long pairs,            \
                                                  long long width) {                                                                         \
        ls_kv_append<T>(kn, vn, kc, vc, dest, pairs, width);                                                                                 \
    }
LS_FOR_ALL_TYPES(LS_ATTN_KERNELS)
