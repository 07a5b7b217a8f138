// Token sampling (docs/spec/sampling.md; Rust: reference/src/sample.rs, philox.rs). One block
// of LS_ROW_THREADS per row. The two softmax reductions (max, sum) use the lane tree of
// reduce.cuh with all threads; the sequential parts (repetition penalty, argmax, the
// top-k value, the top-p order and prefix sum) are done by thread 0 in the reference's
// order; elementwise steps by all threads. First version: no parallel sort.
// Scratch per row: z (V floats, the working logits) and ord (V ints, the sort).

#define LS_PHILOX_M0 0xD2511F53u
#define LS_PHILOX_M1 0xCD9E8D57u
#define LS_PHILOX_W0 0x9E3779B9u
#define LS_PHILOX_W1 0xBB67AE85u

// Word i of the Philox4x32-10 stream of (seed, position): counter (j lo, j hi, pos lo, pos hi),
// j = i / 4, key (seed lo, seed hi), word i % 4 of the output.
__device__ __forceinline__ unsigned ls_philox_word(unsigned long long seed, unsigned long long position, unsigned long long i) {
    const unsigned long long j = i >> 2;
    unsigned c0 = (unsigned)j, c1 = (unsigned)(j >> 32), c2 = (unsigned)position, c3 = (unsigned)(position >> 32);
    unsigned k0 = (unsigned)seed, k1 = (unsigned)(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += LS_PHILOX_W0;
            k1 += LS_PHILOX_W1;
        }
        const unsigned long long p0 = (unsigned long long)LS_PHILOX_M0 * c0, p1 = (unsigned long long)LS_PHILOX_M1 * c2;
        const unsigned hi0 = (unsigned)(p0 >> 32), lo0 = (unsigned)p0, hi1 = (unsigned)(p1 >> 32), lo1 = (unsigned)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    const unsigned w = (unsigned)(i & 3);
    return w == 0 ? c0 : w == 1 ? c1 : w == 2 ? c2 : c3;
}

// -log(-log(u)), u = ((r >> 9) + 0.5) * 2^-23 (both steps exact).
__device__ __forceinline__ float ls_gumbel(unsigned long long seed, unsigned long long position, unsigned long long i) {
    const unsigned r = ls_philox_word(seed, position, i);
    const float u = __fmul_rn(__fadd_rn((float)(r >> 9), 0.5f), __uint_as_float(0x34000000u));
    return -ls_log(-ls_log(u));
}

// (z descending, index ascending): a total order on indices (no NaN in z here).
__device__ __forceinline__ bool ls_before(const float* z, int a, int b) { return z[a] > z[b] || (z[a] == z[b] && a < b); }

// Heap sort of ord[0..n) into the order ls_before (single thread).
__device__ void ls_sort_desc(const float* z, int* ord, long long n) {
    // Max-heap under "after" (the root is the last in order), then pop to the end.
    auto after = [&](int a, int b) { return ls_before(z, b, a); };
    auto sift = [&](long long i, long long len) {
        for (;;) {
            long long c = 2 * i + 1;
            if (c >= len) return;
            if (c + 1 < len && after(ord[c + 1], ord[c])) ++c;
            if (!after(ord[c], ord[i])) return;
            const int t = ord[c];
            ord[c] = ord[i];
            ord[i] = t;
            i = c;
        }
    };
    for (long long i = n / 2 - 1; i >= 0; --i) sift(i, n);
    for (long long e = n - 1; e > 0; --e) {
        const int t = ord[0];
        ord[0] = ord[e];
        ord[e] = t;
        sift(0, e);
    }
}

// Lowest index of the largest value under >; -1 if none beats -inf.
__device__ __forceinline__ long long ls_argmax(const float* z, long long n) {
    float best = __int_as_float(0xff800000);
    long long at = -1;
    for (long long i = 0; i < n; ++i)
        if (z[i] > best) {
            best = z[i];
            at = i;
        }
    return at;
}

// fp: per row (temperature, top_p, min_p, repetition_penalty); ip: per row (top_k, seed,
// position); hist: the distinct history ids of row b at hist[hoff[b]..hoff[b+1]).
template <typename T>
__device__ __forceinline__ void ls_sample(const T* __restrict__ x, const float* __restrict__ fp, const unsigned long long* __restrict__ ip,
                                          const long long* __restrict__ hoff, const long long* __restrict__ hist, float* __restrict__ zs,
                                          int* __restrict__ ords, long long* __restrict__ out, long long V) {
    __shared__ float sh[LS_LANES];
    __shared__ long long res;
    __shared__ float tau;
    const long long b = blockIdx.x;
    const T* xr = x + b * V;
    float* z = zs + b * V;
    int* ord = ords + b * V;
    const float temp = fp[4 * b], top_p = fp[4 * b + 1], min_p = fp[4 * b + 2], rep = fp[4 * b + 3];
    const unsigned long long top_k = ip[3 * b], seed = ip[3 * b + 1], position = ip[3 * b + 2];
    const float ninf = __int_as_float(0xff800000);
    // 1.
    for (long long i = threadIdx.x; i < V; i += blockDim.x) {
        const float a = ls_to_f32(xr[i]);
        z[i] = isnan(a) ? ninf : a;
    }
    __syncthreads();
    // 2. (distinct ids: each touches its own entry, any order)
    if (rep != 1.0f)
        for (long long h = hoff[b] + threadIdx.x; h < hoff[b + 1]; h += blockDim.x) {
            const long long t = hist[h];
            z[t] = z[t] > 0.0f ? __fdiv_rn(z[t], rep) : __fmul_rn(z[t], rep);
        }
    __syncthreads();
    // 3.
    if (temp == 0.0f) {
        if (threadIdx.x == 0) out[b] = ls_argmax(z, V);
        return;
    }
    // 4.
    for (long long i = threadIdx.x; i < V; i += blockDim.x) z[i] = __fdiv_rn(z[i], temp);
    __syncthreads();
    if (threadIdx.x == 0) {
        res = -2;
        for (long long i = 0; i < V; ++i)
            if (z[i] == __int_as_float(0x7f800000)) {
                res = i;
                break;
            }
    }
    __syncthreads();
    if (res != -2) {
        if (threadIdx.x == 0) out[b] = res;
        return;
    }
    // 5.
    if (top_k > 0 && top_k < (unsigned long long)V) {
        if (threadIdx.x == 0) {
            for (long long i = 0; i < V; ++i) ord[i] = (int)i;
            ls_sort_desc(z, ord, V);
            tau = z[ord[top_k - 1]];
        }
        __syncthreads();
        for (long long i = threadIdx.x; i < V; i += blockDim.x)
            if (z[i] < tau) z[i] = ninf;
        __syncthreads();
    }
    // 6. (z only ever becomes -inf below, and e of a -inf entry is +0, so recomputing
    // e_i = exp(z_i - m) and p_i = e_i / s from the current z gives the reference's p of
    // every entry still kept.)
    if (top_p < 1.0f || min_p > 0.0f) {
        const float m = ls_lane_reduce<LsMax>([&](long long i) { return z[i]; }, V, sh);
        if (m == ninf) {
            if (threadIdx.x == 0) out[b] = -1;
            return;
        }
        const float s = ls_lane_reduce<LsSum>([&](long long i) { return z[i] == ninf ? 0.0f : ls_exp(__fsub_rn(z[i], m)); }, V, sh);
        if (top_p < 1.0f) {
            if (threadIdx.x == 0) {
                long long n = 0;
                for (long long i = 0; i < V; ++i)
                    if (z[i] != ninf) ord[n++] = (int)i;
                ls_sort_desc(z, ord, n);
                float c = 0.0f;
                long long cut = n;
                for (long long j = 0; j < n; ++j) {
                    c = __fadd_rn(c, __fdiv_rn(ls_exp(__fsub_rn(z[ord[j]], m)), s));
                    if (c >= top_p) {
                        cut = j + 1;
                        break;
                    }
                }
                for (long long j = cut; j < n; ++j) z[ord[j]] = ninf;
            }
            __syncthreads();
        }
        if (min_p > 0.0f) {
            const float thr = __fmul_rn(min_p, __fdiv_rn(1.0f, s));
            for (long long i = threadIdx.x; i < V; i += blockDim.x) {
                const float p = z[i] == ninf ? __fdiv_rn(0.0f, s) : __fdiv_rn(ls_exp(__fsub_rn(z[i], m)), s);
                if (p < thr) z[i] = ninf;
            }
            __syncthreads();
        }
    }
    // 7.
    for (long long i = threadIdx.x; i < V; i += blockDim.x)
        if (z[i] != ninf) z[i] = __fadd_rn(z[i], ls_gumbel(seed, position, (unsigned long long)i));
    __syncthreads();
    if (threadIdx.x == 0) out[b] = ls_argmax(z, V);
}

#define LS_SAMPLE_KERNEL(SUFFIX, T)                                                                                                     \
    extern "C" __global__ void __launch_bounds__(LS_ROW_THREADS)                                                                       \
        sample_##SUFFIX(const T* x, const float* fp, const unsigned long long* ip, const long long* hoff, const long long* hist, float* z, \
                        int* ord, long long* out, long long V) {                                                                        \
        ls_sample<T>(x, fp, ip, hoff, hist, z, ord, out, V);                                                                            \
    }
LS_FOR_ALL_TYPES(LS_SAMPLE_KERNEL)
