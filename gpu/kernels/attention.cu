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

// Kernel 1b, attn_tile_{T}: the same split states as attn_split (same scratch layout, same
// merge), computed by one CTA per (tile, KV head, head chunk, split) so that K and V are read
// once for all the query heads of a GQA group (and, in prefill, for several query rows). A
// tile is a run of consecutive plan rows of one sequence at consecutive positions (the host
// builds them; decode: one row); its "slots" are (row, q head) pairs, slot j = r * gh + hh.
// Each slot runs its own, unchanged tree: the CTA walks the union of the slots' key ranges in
// the split block by block, and every slot takes part only in the blocks that intersect its
// own range, with its own m, l, acc. Per block of BN keys:
//   A: K and V rows of the block (union range) widened to f32 into shared memory, coalesced
//      16-byte loads; each slot's block-local range and whether the block is its first;
//   B: scores, one thread per (key, slot): fma chain over d in order from +0, then * scale
//      (four slots per thread share each K load from shared memory);
//   C: per slot (one owner thread): mb = max2 over its keys (max2 is exact: four interleaved
//      partial maxima give the same mb), then m, alpha, l = l * alpha as in attn_split;
//   D: e = exp(score - m) for every (key, slot) in range, in place of the score;
//   E: acc_d = acc_d * alpha (or +0 on the slot's first block), then acc_d = fma(e, v_d, acc_d)
//      over its keys in order, one thread per (slot, dim), acc in registers; the owner adds
//      l = l + e over its keys in order.
// Threads: exactly LS_ATTN_THREADS = 128. Shapes: d in {32, 64, 128, 256}; qsp (padded slot
// count) a multiple of 4 * ng (ng = 128 / d slot groups when d < 128) and at most
// LS_ATTN_SLOTS, qsp * (d > 128 ? 2 : 1) / ng <= LS_ATTN_SLOTS. Dynamic shared memory:
// ls_attn_tile_smem(d, qsp) bytes (ops/attention.rs computes the same).
#ifndef LS_ATTN_SLOTS
#error "LS_ATTN_SLOTS is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
#ifndef LS_ATTN_FEW_SLOTS
#error "LS_ATTN_FEW_SLOTS is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
// attn_tile_few_{T}: the same kernel for tiles of at most LS_ATTN_FEW_SLOTS slots per
// thread (decode: one query row, a GQA group of 4 heads), with accumulators for only that
// many, built for 3 CTAs per SM: attn_tile's 16-slot accumulators take 249 registers and
// leave 2 CTAs per SM, with nobody's loads overlapping a CTA's compute phases.
#define LS_ATTN_FEW_CTAS 3

struct alignas(16) ls_v16 { unsigned w[4]; };
__device__ __forceinline__ ls_v16 ls_ld16(const void* p) {
#ifdef LS_HOST_EMULATION
    ls_v16 r;
    std::memcpy(&r, p, 16);
    return r;
#else
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    ls_v16 r = {{u.x, u.y, u.z, u.w}};
    return r;
#endif
}
// Element e of a 16-byte vector of T, widened (exact).
template <typename T> __device__ __forceinline__ float ls_v16_elem(const ls_v16& x, int e);
template <> __device__ __forceinline__ float ls_v16_elem<float>(const ls_v16& x, int e) { return __uint_as_float(x.w[e]); }
template <> __device__ __forceinline__ float ls_v16_elem<ls_bf16>(const ls_v16& x, int e) {
    ls_bf16 b;
    b.bits = (unsigned short)(x.w[e >> 1] >> (16 * (e & 1)));
    return ls_to_f32(b);
}
template <> __device__ __forceinline__ float ls_v16_elem<ls_f16>(const ls_v16& x, int e) {
    ls_f16 b;
    b.bits = (unsigned short)(x.w[e >> 1] >> (16 * (e & 1)));
    return ls_to_f32(b);
}

// Shared-memory layout of attn_tile (bytes): key rows (2 * BN long long), per slot lo, hi, rh
// (3 * qsp long long), block lo, hi, first-flag (3 * qsp int), m, alpha (2 * qsp float), then
// 16-byte aligned: Q (qsp * d), scores (BN * qsp), K (BN * (d + 4)), V (BN * d) floats.
__device__ __host__ __forceinline__ long long ls_attn_tile_head(int qsp) {
    return ((16LL * LS_ATTN_BLOCK + 44LL * qsp) + 15) / 16 * 16;
}
__device__ __host__ __forceinline__ long long ls_attn_tile_smem(int d, int qsp) {
    return ls_attn_tile_head(qsp) + 4LL * ((long long)qsp * d + (long long)LS_ATTN_BLOCK * qsp + (long long)LS_ATTN_BLOCK * (d + 4) +
                                           (long long)LS_ATTN_BLOCK * d);
}

template <typename T, int MA = LS_ATTN_SLOTS>
__device__ __forceinline__ void ls_attn_tile(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                             const long long* __restrict__ tiles, const long long* __restrict__ rows,
                                             const long long* __restrict__ base, const long long* __restrict__ table, long long page,
                                             long long max_blocks, int hq, int hkv, int d, float scale, long long window, float* __restrict__ st,
                                             int nsplit, int gh, int nhc, int qsp) {
    constexpr int NT = LS_ATTN_THREADS, BN = LS_ATTN_BLOCK, S = LS_ATTN_SPLIT;
#ifdef LS_HOST_EMULATION
    unsigned char* sm = ls_dyn_smem();
#else
    extern __shared__ float4 ls_attn_dyn[];
    unsigned char* sm = reinterpret_cast<unsigned char*>(ls_attn_dyn);
#endif
    long long* krow = reinterpret_cast<long long*>(sm);  // [2][BN]
    long long* slo = krow + 2 * BN;                      // per slot: split-level lo, hi, rh
    long long* shi = slo + qsp;
    long long* srh = shi + qsp;
    int* blo_s = reinterpret_cast<int*>(srh + qsp);  // per slot: block-local lo, hi, first block
    int* bhi_s = blo_s + qsp;
    int* binit = bhi_s + qsp;
    float* sm_m = reinterpret_cast<float*>(binit + qsp);
    float* sm_a = sm_m + qsp;
    float* qs = reinterpret_cast<float*>(sm + ls_attn_tile_head(qsp));
    float* sc = qs + (long long)qsp * d;  // [BN][qsp]: scores, then e
    float* ks = sc + BN * qsp;             // [BN][d + 4]
    float* vs = ks + (long long)BN * (d + 4);  // [BN][d]
    const int kst = d + 4;

    const int t = threadIdx.x;
    const long long tile = blockIdx.x / ((long long)hkv * nhc);
    const int kh = (int)((blockIdx.x / nhc) % hkv);
    const int hc = (int)(blockIdx.x % nhc);
    const int group = hq / hkv;
    const int ghc = gh < group - hc * gh ? gh : group - hc * gh;  // heads of this chunk
    const long long r0 = tiles[2 * tile], nr = tiles[2 * tile + 1];
    const long long seq = rows[2 * r0];
    const long long p0 = rows[2 * r0 + 1], plast = rows[2 * (r0 + nr - 1) + 1];
    const long long f0 = ls_attn_first(p0, window);
    const long long s = f0 / S + blockIdx.y;
    if (s > plast / S) return;  // uniform over the CTA
    // Union of the slots' ranges in this split: positions are consecutive, so it is one interval.
    const long long ulo = f0 > s * S ? f0 : s * S;
    const long long uhi = plast < s * S + S - 1 ? plast : s * S + S - 1;
    const int slots = (int)nr * ghc;
    const int hbase = kh * group + hc * gh;
    if (t < qsp) {
        long long lo = 1, hi = 0, rh = 0;
        if (t < slots) {
            const long long row = r0 + t / ghc;
            const long long pos = rows[2 * row + 1], first = ls_attn_first(pos, window);
            rh = row * hq + hbase + t % ghc;
            if (s >= first / S && s <= pos / S) {
                lo = first > s * S ? first : s * S;
                hi = pos < s * S + S - 1 ? pos : s * S + S - 1;
            }
        }
        slo[t] = lo;
        shi[t] = hi;
        srh[t] = rh;
    }
    for (long long i = t; i < (long long)qsp * d; i += NT) {
        const int j = (int)(i / d), dd = (int)(i % d);
        float x = 0.0f;
        if (j < slots) x = ls_to_f32(q[((r0 + j / ghc) * hq + hbase + j % ghc) * (long long)d + dd]);
        qs[i] = x;
    }
    const long long b0 = ulo / BN, b1 = uhi / BN;
    for (int i = t; i < BN; i += NT) {
        const long long key = b0 * BN + i;
        if (key >= ulo && key <= uhi) krow[i] = ls_kv_row(base, table, page, max_blocks, seq, key);
    }
    // Accumulator ownership (phase E): dim t % d, slot group g = t / d (d <= 128), or dims t
    // and t + 128 (d = 256); group g owns slots g * qsg .. g * qsg + qsg - 1.
    const int ng = d < NT ? NT / d : 1;
    const int nd = d > NT ? 2 : 1;
    const int qsg = qsp / ng;
    const int g = d < NT ? t / d : 0;
    const int dim = d < NT ? t % d : t;
    // Slot owner (m, l; phases C, E): thread (j % 4) * 32 + j / 4, spread over the warps.
    const int own = (t & 31) < 4 ? (t & 31) * 4 + (t >> 5) : -1;
    const bool owner = own >= 0 && own < qsp;
    float m = 0.0f, l = 0.0f;
    float acc[2][MA];
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int a = 0; a < MA; ++a) acc[n][a] = 0.0f;
    const bool vec = ((reinterpret_cast<unsigned long long>(k) | reinterpret_cast<unsigned long long>(v)) & 15ULL) == 0 &&
                     (d * (int)sizeof(T)) % 16 == 0;
    constexpr int EPV = 16 / (int)sizeof(T);
    __syncthreads();

    int it = 0;
    for (long long b = b0; b <= b1; ++b, ++it) {
        const int bl = (int)((ulo > b * BN ? ulo : b * BN) - b * BN);
        const int bh = (int)((uhi < b * BN + BN - 1 ? uhi : b * BN + BN - 1) - b * BN);
        const long long* kr = krow + (it & 1) * BN;
        // A: the slots' ranges in this block; K and V rows bl..bh into shared memory.
        if (t < qsp) {
            int lo = 1, hi = 0, first = 0;
            if (slo[t] <= shi[t] && slo[t] <= b * BN + BN - 1 && shi[t] >= b * BN) {
                lo = (int)((slo[t] > b * BN ? slo[t] : b * BN) - b * BN);
                hi = (int)((shi[t] < b * BN + BN - 1 ? shi[t] : b * BN + BN - 1) - b * BN);
                first = b == slo[t] / BN;
            }
            blo_s[t] = lo;
            bhi_s[t] = hi;
            binit[t] = first;
        }
        if (vec) {
            const int vpk = d / EPV;
            const int nvec = (bh - bl + 1) * vpk;
            constexpr int U = 8;  // 2 * U 16-byte loads in flight per thread
            for (int i0 = t; i0 < nvec; i0 += NT * U) {
                ls_v16 kb[U], vb[U];
#pragma unroll
                for (int u = 0; u < U; ++u) {
                    const int i = i0 + u * NT;
                    if (i < nvec) {
                        const int key = bl + i / vpk, part = i % vpk;
                        const long long off = (kr[key] * hkv + kh) * (long long)d + part * EPV;
                        kb[u] = ls_ld16(k + off);
                        vb[u] = ls_ld16(v + off);
                    }
                }
#pragma unroll
                for (int u = 0; u < U; ++u) {
                    const int i = i0 + u * NT;
                    if (i < nvec) {
                        const int key = bl + i / vpk, part = i % vpk;
                        float* kd = ks + key * kst + part * EPV;
                        float* vd = vs + key * d + part * EPV;
#pragma unroll
                        for (int e = 0; e < EPV; e += 4) {
                            *reinterpret_cast<float4*>(kd + e) = make_float4(ls_v16_elem<T>(kb[u], e), ls_v16_elem<T>(kb[u], e + 1),
                                                                             ls_v16_elem<T>(kb[u], e + 2), ls_v16_elem<T>(kb[u], e + 3));
                            *reinterpret_cast<float4*>(vd + e) = make_float4(ls_v16_elem<T>(vb[u], e), ls_v16_elem<T>(vb[u], e + 1),
                                                                             ls_v16_elem<T>(vb[u], e + 2), ls_v16_elem<T>(vb[u], e + 3));
                        }
                    }
                }
            }
        } else {
            for (int i = t; i < (bh - bl + 1) * d; i += NT) {
                const int key = bl + i / d, dd = i % d;
                const long long off = (kr[key] * hkv + kh) * (long long)d + dd;
                ks[key * kst + dd] = ls_to_f32(k[off]);
                vs[key * d + dd] = ls_to_f32(v[off]);
            }
        }
        __syncthreads();
        // B: scores. Thread: key t % BN (and + 128 ... when BN > 128), slots g2, g2 + ng2, ...
        {
            const int ng2 = BN >= NT ? 1 : NT / BN;
            const int g2 = t / BN;
            if (g2 < ng2) {
                for (int i = t - g2 * BN; i < BN; i += NT) {
                    if (i < bl || i > bh) continue;
                    const float* kp = ks + i * kst;
                    for (int j0 = g2; j0 < qsp; j0 += 4 * ng2) {
                        int jj[4];
                        float x[4];
#pragma unroll
                        for (int c = 0; c < 4; ++c) {
                            const int j = j0 + c * ng2;
                            jj[c] = j < qsp ? j : qsp - 1;
                            x[c] = 0.0f;
                        }
                        for (int dd = 0; dd < d; dd += 4) {
                            const float4 kk = *reinterpret_cast<const float4*>(kp + dd);
#pragma unroll
                            for (int c = 0; c < 4; ++c) {
                                const float4 qq = *reinterpret_cast<const float4*>(qs + jj[c] * d + dd);
                                x[c] = __fmaf_rn(qq.x, kk.x, x[c]);
                                x[c] = __fmaf_rn(qq.y, kk.y, x[c]);
                                x[c] = __fmaf_rn(qq.z, kk.z, x[c]);
                                x[c] = __fmaf_rn(qq.w, kk.w, x[c]);
                            }
                        }
#pragma unroll
                        for (int c = 0; c < 4; ++c) {
                            const int j = j0 + c * ng2;
                            if (j < qsp && i >= blo_s[j] && i <= bhi_s[j]) sc[i * qsp + j] = __fmul_rn(x[c], scale);
                        }
                    }
                }
            }
        }
        __syncthreads();
        // C: block maximum and the running state of each slot (its owner thread).
        if (owner && blo_s[own] <= bhi_s[own]) {
            const int lo = blo_s[own], hi = bhi_s[own];
            float mx[4];
#pragma unroll
            for (int c = 0; c < 4; ++c) mx[c] = __int_as_float(0xff800000);
            int i = lo;
            for (; i + 3 <= hi; i += 4) {
#pragma unroll
                for (int c = 0; c < 4; ++c) mx[c] = ls_max2(mx[c], sc[(i + c) * qsp + own]);
            }
            for (; i <= hi; ++i) mx[0] = ls_max2(mx[0], sc[i * qsp + own]);
            const float mb = ls_max2(ls_max2(mx[0], mx[1]), ls_max2(mx[2], mx[3]));
            float alpha = 1.0f;
            if (binit[own]) {
                m = mb;
                l = 0.0f;
            } else {
                const float mn = ls_max2(m, mb);
                alpha = ls_exp(__fsub_rn(m, mn));
                l = __fmul_rn(l, alpha);
                m = mn;
            }
            sm_m[own] = m;
            sm_a[own] = alpha;
        }
        __syncthreads();
        // D: e = exp(score - m) in place; the next block's storage rows.
        for (int i = t; i < (bh - bl + 1) * qsp; i += NT) {
            const int key = bl + i / qsp, j = i % qsp;
            if (key >= blo_s[j] && key <= bhi_s[j]) sc[key * qsp + j] = ls_exp(__fsub_rn(sc[key * qsp + j], sm_m[j]));
        }
        if (b < b1) {
            long long* kn = krow + ((it + 1) & 1) * BN;
            for (int i = t; i < BN; i += NT) {
                const long long key = (b + 1) * BN + i;
                if (key <= uhi) kn[i] = ls_kv_row(base, table, page, max_blocks, seq, key);
            }
        }
        __syncthreads();
        // E: acc (registers) and l (owners), keys in increasing order.
        {
            int lo[MA], hi[MA];
#pragma unroll
            for (int a = 0; a < MA; ++a) {
                lo[a] = 1;
                hi[a] = 0;
                if (a < qsg) {
                    const int j = g * qsg + a;
                    if (blo_s[j] <= bhi_s[j]) {
                        lo[a] = blo_s[j];
                        hi[a] = bhi_s[j];
#pragma unroll
                        for (int n = 0; n < 2; ++n) {
                            if (n < nd) acc[n][a] = binit[j] ? 0.0f : __fmul_rn(acc[n][a], sm_a[j]);
                        }
                    }
                }
            }
            for (int i = bl; i <= bh; ++i) {
                const float v0 = vs[i * d + dim];
                const float v1 = nd > 1 ? vs[i * d + dim + NT] : 0.0f;
                const float* ep = sc + i * qsp + g * qsg;
#pragma unroll
                for (int a0 = 0; a0 < MA; a0 += 4) {
                    if (a0 < qsg) {
                        const float4 e4 = *reinterpret_cast<const float4*>(ep + a0);
                        const float ev[4] = {e4.x, e4.y, e4.z, e4.w};
#pragma unroll
                        for (int c = 0; c < 4; ++c) {
                            const int a = a0 + c;
                            if (i >= lo[a] && i <= hi[a]) {
                                acc[0][a] = __fmaf_rn(ev[c], v0, acc[0][a]);
                                if (nd > 1) acc[1][a] = __fmaf_rn(ev[c], v1, acc[1][a]);
                            }
                        }
                    }
                }
            }
            if (owner) {
                for (int i = blo_s[own]; i <= bhi_s[own]; ++i) l = __fadd_rn(l, sc[i * qsp + own]);
            }
        }
        __syncthreads();  // K, V, scores and block ranges are rewritten by the next block
    }
    // The split states, in attn_split's scratch layout.
    if (owner && slo[own] <= shi[own]) {
        const long long first = ls_attn_first(rows[2 * (srh[own] / hq) + 1], window);
        float* out = st + (srh[own] * nsplit + (s - first / S)) * (long long)(2 + d);
        out[0] = m;
        out[1] = l;
    }
#pragma unroll
    for (int a = 0; a < MA; ++a) {
        if (a < qsg) {
            const int j = g * qsg + a;
            if (slo[j] <= shi[j]) {
                const long long first = ls_attn_first(rows[2 * (srh[j] / hq) + 1], window);
                float* out = st + (srh[j] * nsplit + (s - first / S)) * (long long)(2 + d) + 2;
#pragma unroll
                for (int n = 0; n < 2; ++n)
                    if (n < nd) out[dim + n * NT] = acc[n][a];
            }
        }
    }
}

// Kernel 1c, attn_warp_{T}: the same split states once more, for tiles of one query row
// (decode; ops/attention.rs picks it when no two rows share a tile and a GQA group holds at
// least two query heads), computed by one CTA per (row, KV head, chunk of up to
// LS_ATTN_WARP_HEADS query heads of its group, run of `spc` consecutive splits) with WPH =
// LS_ATTN_WARPS_PER_HEAD warps per query head. A run's blocks flow through one copy pipeline
// (its first block's wait paid once per run, not per split: the launcher's choice of spc,
// ops/attention.rs `spread`); each split's state starts afresh at the split's first block
// and is written after its last, as if its CTA computed it alone. All heads of a tile share the row, hence the key range lo..hi, so the warps
// of a head run its tree among themselves and the CTA shares only K and V:
//   - K and V blocks stay in their storage type in shared memory (16 bytes of padding per
//     row), two buffers: the copies of block b + 1 (cp.async) are in flight while block b
//     is computed; the storage rows of block b + 2 are looked up meanwhile;
//   - scores: lane i of part p owns keys 32p + i, 32p + i + 32 WPH, ... of the block, each an
//     fma chain over d in order from +0 (q from shared memory, broadcast), then * scale;
//   - mb = max2 over all the head's scores (max2 is exact: a butterfly per warp, then the
//     parts' maxima through shared memory), then m, alpha, l = l * alpha, acc = acc * alpha
//     (or the first block's init), every warp of the head with the same bits;
//   - e = exp(score - m) per key into the head's row of shared memory, then keys in order:
//     l = l + e (every lane), acc_d = fma(e, v_d, acc_d) for the D / (32 WPH) dims the lane
//     owns (part p owns the p-th share of the dims).
// Threads: 32 * WPH * gh (gh <= LS_ATTN_WARP_HEADS heads per CTA). Shapes: D in {64, 128, 256},
// d * sizeof(T) a multiple of 16. Dynamic shared memory: ls_attn_warp_smem(d, gh, sizeof(T))
// bytes (ops/attention.rs computes the same).
#ifndef LS_ATTN_WARP_HEADS
#error "LS_ATTN_WARP_HEADS is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
#ifndef LS_ATTN_WARPS_PER_HEAD
#error "LS_ATTN_WARPS_PER_HEAD is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
#ifndef LS_ATTN_WARP_CTAS
#error "LS_ATTN_WARP_CTAS is not defined: compile through gpu/src/kernels.rs (generated header)"
#endif
// Shared-memory layout of attn_warp (bytes, each part 16-byte aligned): K [2][BN] and V [2][BN]
// rows of d * elem + 16 bytes, Q [gh][d] float, storage rows [2][BN] long long, e [gh][BN] float,
// the warps' block maxima [gh][WPH] float.
__device__ __host__ __forceinline__ long long ls_attn_warp_kv_row(int d, int elem) { return (long long)d * elem + 16; }
__device__ __host__ __forceinline__ long long ls_attn_warp_smem(int d, int gh, int elem) {
    return 16LL * LS_ATTN_BLOCK + 4LL * gh * LS_ATTN_BLOCK + 4LL * gh * LS_ATTN_WARPS_PER_HEAD + 4LL * gh * d +
           4LL * LS_ATTN_BLOCK * ls_attn_warp_kv_row(d, elem);
}

// N consecutive elements of T from shared memory, widened, with the widest loads that fit.
template <typename T, int N> __device__ __forceinline__ void ls_widen_n(const T* p, float (&out)[N]) {
    constexpr int B = N * (int)sizeof(T), EPV = 16 / (int)sizeof(T);
    if constexpr (B % 16 == 0) {
#pragma unroll
        for (int u = 0; u < B / 16; ++u) {
            const ls_v16 x = ls_ld16(p + u * EPV);
#pragma unroll
            for (int e = 0; e < EPV; ++e) out[u * EPV + e] = ls_v16_elem<T>(x, e);
        }
    } else if constexpr (B == 8) {
        const uint2 u = *reinterpret_cast<const uint2*>(p);
        const ls_v16 x = {{u.x, u.y, 0u, 0u}};
#pragma unroll
        for (int e = 0; e < N; ++e) out[e] = ls_v16_elem<T>(x, e);
    } else if constexpr (B == 4) {
        const ls_v16 x = {{*reinterpret_cast<const unsigned*>(p), 0u, 0u, 0u}};
#pragma unroll
        for (int e = 0; e < N; ++e) out[e] = ls_v16_elem<T>(x, e);
    } else {
#pragma unroll
        for (int e = 0; e < N; ++e) out[e] = ls_to_f32(p[e]);
    }
}

// Issues the copies of the K and V rows bl..bh of a block (storage rows kr) into one buffer.
template <typename T, int D>
__device__ __forceinline__ void ls_attn_warp_load(const T* __restrict__ k, const T* __restrict__ v, const long long* kr, int bl, int bh,
                                                  int hkv, int kh, unsigned char* kd, unsigned char* vd, bool vec) {
    constexpr int EPV = 16 / (int)sizeof(T), VPR = D / EPV;
    const long long rs = ls_attn_warp_kv_row(D, (int)sizeof(T));
    static_assert((32 * LS_ATTN_WARPS_PER_HEAD) % VPR == 0, "attn_warp_load: a CTA's threads a multiple of the 16-byte parts of a row");
    if (vec) {
        // Each thread copies one 16-byte part of every (blockDim / VPR)-th key: its part and
        // offsets fixed, one 64-bit multiply-add per key (the per-copy division and index
        // arithmetic cost about 30 instructions per 32 bytes).
        const int part = (int)(threadIdx.x % VPR), step = (int)(blockDim.x / VPR);
        const long long kvs = (long long)hkv * D, koff = (long long)kh * D + part * EPV;
        for (int key = bl + (int)(threadIdx.x / VPR); key <= bh; key += step) {
            const long long off = kr[key] * kvs + koff;
            ls_cp_async<16>(kd + key * rs + part * 16, k + off);
            ls_cp_async<16>(vd + key * rs + part * 16, v + off);
        }
    } else {
        for (int i = threadIdx.x; i < (bh - bl + 1) * D; i += blockDim.x) {
            const int key = bl + i / D, dd = i % D;
            const long long off = (kr[key] * hkv + kh) * (long long)D + dd;
            reinterpret_cast<T*>(kd + key * rs)[dd] = k[off];
            reinterpret_cast<T*>(vd + key * rs)[dd] = v[off];
        }
    }
    ls_cp_async_commit();
}

// One key of attn_warp's V loop: l = l + e (where SUML), then acc_d = fma(e, v_d, acc_d)
// for the lane's DPL dims of the key's V row.
template <typename T, int DPL, bool SUML>
__device__ __forceinline__ void ls_attn_warp_vstep(const T* vrow, float e, float& l, float (&acc)[DPL]) {
    float vv[DPL];
    ls_widen_n<T, DPL>(vrow, vv);
    if constexpr (SUML) l = __fadd_rn(l, e);
#pragma unroll
    for (int j = 0; j < DPL; ++j) acc[j] = __fmaf_rn(e, vv[j], acc[j]);
}

// The V loop over a whole block of BN keys (a split's inner blocks), unrolled: no loop
// overhead, e four keys at a time. SUML = false for the warps that do not write l.
template <typename T, int DPL, int BN, int VS, bool SUML>
__device__ __forceinline__ void ls_attn_warp_vblock(const T* vl, const float* eh, float& l, float (&acc)[DPL]) {
#pragma unroll
    for (int j = 0; j < BN; j += 4) {
        const float4 e4 = *reinterpret_cast<const float4*>(eh + j);
        ls_attn_warp_vstep<T, DPL, SUML>(vl + j * VS, e4.x, l, acc);
        ls_attn_warp_vstep<T, DPL, SUML>(vl + (j + 1) * VS, e4.y, l, acc);
        ls_attn_warp_vstep<T, DPL, SUML>(vl + (j + 2) * VS, e4.z, l, acc);
        ls_attn_warp_vstep<T, DPL, SUML>(vl + (j + 3) * VS, e4.w, l, acc);
    }
}

template <typename T, int D>
__device__ __forceinline__ void ls_attn_warp(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                             const long long* __restrict__ tiles, const long long* __restrict__ rows,
                                             const long long* __restrict__ base, const long long* __restrict__ table, long long page,
                                             long long max_blocks, int hq, int hkv, float scale, long long window, float* __restrict__ st,
                                             int nsplit, int gh, int nhc, int spc) {
    constexpr int BN = LS_ATTN_BLOCK, S = LS_ATTN_SPLIT, WPH = LS_ATTN_WARPS_PER_HEAD;
    constexpr int EPV = 16 / (int)sizeof(T), KPL = (BN + 32 * WPH - 1) / (32 * WPH), DPL = D / (32 * WPH);
    constexpr int RS = D * (int)sizeof(T) + 16, VS = RS / (int)sizeof(T);  // row stride: bytes, elements
    static_assert(DPL >= 1 && D % (32 * WPH) == 0 && (D * (int)sizeof(T)) % 16 == 0, "attn_warp: D a multiple of 32 * WPH and of 16 bytes");
#ifdef LS_HOST_EMULATION
    unsigned char* sm = ls_dyn_smem();
#else
    extern __shared__ float4 ls_attn_dyn[];
    unsigned char* sm = reinterpret_cast<unsigned char*>(ls_attn_dyn);
#endif
    unsigned char* kbuf = sm;  // [2][BN] rows of RS bytes: block b in buffer (b - b0) & 1
    unsigned char* vbuf = kbuf + 2 * BN * RS;
    float* qs = reinterpret_cast<float*>(vbuf + 2 * BN * RS);     // [gh][D]
    long long* krow = reinterpret_cast<long long*>(qs + gh * D);  // [2][BN]: block b's rows at (b - b0) & 1
    float* es = reinterpret_cast<float*>(krow + 2 * BN);           // [gh][BN]
    float* smax = es + gh * BN;                                    // [gh][WPH]: each warp's block maximum

    const int t = threadIdx.x, lane = t & 31, w = t >> 5;
    const int hw = w / WPH, part = w % WPH;  // this warp's head in the chunk, and its part of that head
    const long long tile = blockIdx.x / ((long long)hkv * nhc);
    const int kh = (int)((blockIdx.x / nhc) % hkv);
    const int hc = (int)(blockIdx.x % nhc);
    const int group = hq / hkv;
    const int ghc = gh < group - hc * gh ? gh : group - hc * gh;  // heads of this chunk
    const long long row = tiles[2 * tile];
    const long long seq = rows[2 * row], pos = rows[2 * row + 1];
    const long long first = ls_attn_first(pos, window);
    // Splits s0 … s1 of the row, one after the other (spc per CTA: a launch choice; each
    // split's state starts afresh at its first block and is written after its last).
    const long long sf = first / S, s0 = sf + (long long)blockIdx.y * spc;
    if (s0 > pos / S) return;  // uniform over the CTA
    const long long s1 = s0 + spc - 1 < pos / S ? s0 + spc - 1 : pos / S;
    const long long lo = first > s0 * S ? first : s0 * S;
    const long long hi = pos < s1 * S + S - 1 ? pos : s1 * S + S - 1;
    const long long b0 = lo / BN, b1 = hi / BN;
    const long long rh0 = row * hq + kh * group + hc * gh;  // (row, head) of the chunk's first head
    for (int i = t; i < ghc * D; i += blockDim.x) qs[i] = ls_to_f32(q[rh0 * D + i]);
    for (int i = t; i < 2 * BN; i += blockDim.x) {
        const long long key = b0 * BN + i;
        if (key >= lo && key <= hi) krow[i] = ls_kv_row(base, table, page, max_blocks, seq, key);
    }
    const bool vec = ((reinterpret_cast<unsigned long long>(k) | reinterpret_cast<unsigned long long>(v)) & 15ULL) == 0;
    __syncthreads();
    {
        const int bl = (int)(lo - b0 * BN), bh = (int)((hi < b0 * BN + BN - 1 ? hi : b0 * BN + BN - 1) - b0 * BN);
        ls_attn_warp_load<T, D>(k, v, krow, bl, bh, hkv, kh, kbuf, vbuf, vec);
    }
    const bool busy = hw < ghc;
    float m = 0.0f, l = 0.0f, acc[DPL];
#pragma unroll
    for (int j = 0; j < DPL; ++j) acc[j] = 0.0f;
    const float* qh = qs + (busy ? hw : 0) * D;
    float* eh = es + (busy ? hw : 0) * BN;
    for (long long b = b0; b <= b1; ++b) {
        const int buf = (int)((b - b0) & 1);
        const int bl = (int)((lo > b * BN ? lo : b * BN) - b * BN);
        const int bh = (int)((hi < b * BN + BN - 1 ? hi : b * BN + BN - 1) - b * BN);
        __syncthreads();  // block b - 1 is done: its buffer and the storage rows of block b are free
        if (b < b1) {
            const int nh = (int)((hi < (b + 1) * BN + BN - 1 ? hi : (b + 1) * BN + BN - 1) - (b + 1) * BN);
            ls_attn_warp_load<T, D>(k, v, krow + (buf ^ 1) * BN, 0, nh, hkv, kh, kbuf + (buf ^ 1) * BN * RS, vbuf + (buf ^ 1) * BN * RS, vec);
            for (int i = t; i < BN; i += blockDim.x) {
                const long long key = (b + 2) * BN + i;
                if (key <= hi) krow[buf * BN + i] = ls_kv_row(base, table, page, max_blocks, seq, key);
            }
            ls_cp_async_wait<1>();
        } else {
            ls_cp_async_wait<0>();
        }
        __syncthreads();  // block b is in shared memory
        const unsigned char* kb = kbuf + buf * BN * RS;
        const T* vb = reinterpret_cast<const T*>(vbuf + buf * BN * RS);
        // Scores of the lane's keys (part · 32 + lane, then + 32 · WPH, ...): an fma chain over
        // d in order from +0, then * scale; this warp's maximum of them.
        float x[KPL];
        float mb = __int_as_float(0xff800000);
        if (busy) {
            // The key's range test outside the chain over d: inside it, NVVM kept one
            // branch per 16 bytes of K (BSSY/BRA/BSYNC: 3 instructions per 8 fmas).
#pragma unroll
            for (int c = 0; c < KPL; ++c) {
                x[c] = 0.0f;
                const int key = (part + WPH * c) * 32 + lane;
                if (key >= bl && key <= bh) {
                    const unsigned char* kk = kb + key * RS;
#pragma unroll
                    for (int dd = 0; dd < D; dd += EPV) {
                        const ls_v16 kv = ls_ld16(kk + dd * (int)sizeof(T));
#pragma unroll
                        for (int e = 0; e < EPV; e += 4) {
                            const float4 q4 = *reinterpret_cast<const float4*>(qh + dd + e);
                            x[c] = __fmaf_rn(q4.x, ls_v16_elem<T>(kv, e), x[c]);
                            x[c] = __fmaf_rn(q4.y, ls_v16_elem<T>(kv, e + 1), x[c]);
                            x[c] = __fmaf_rn(q4.z, ls_v16_elem<T>(kv, e + 2), x[c]);
                            x[c] = __fmaf_rn(q4.w, ls_v16_elem<T>(kv, e + 3), x[c]);
                        }
                    }
                }
            }
#pragma unroll
            for (int c = 0; c < KPL; ++c) {
                const int key = (part + WPH * c) * 32 + lane;
                if (key >= bl && key <= bh) {
                    x[c] = __fmul_rn(x[c], scale);
                    mb = ls_max2(mb, x[c]);
                }
            }
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) mb = ls_max2(mb, __shfl_xor_sync(0xffffffffu, mb, o));
            if (lane == 0) smax[hw * WPH + part] = mb;
        }
        if (WPH > 1) __syncthreads();  // every part's maximum is in smax
        if (busy) {
            // The block maximum (max2 is exact: the parts' order does not matter), then the
            // running state, with the same bits in every warp of the head.
            mb = smax[hw * WPH];
#pragma unroll
            for (int p2 = 1; p2 < WPH; ++p2) mb = ls_max2(mb, smax[hw * WPH + p2]);
            if (b == b0 || (b * BN) % S == 0) {  // the split's first block
                m = mb;
                l = 0.0f;
#pragma unroll
                for (int j = 0; j < DPL; ++j) acc[j] = 0.0f;
            } else {
                const float mn = ls_max2(m, mb);
                const float alpha = ls_exp(__fsub_rn(m, mn));
                l = __fmul_rn(l, alpha);
#pragma unroll
                for (int j = 0; j < DPL; ++j) acc[j] = __fmul_rn(acc[j], alpha);
                m = mn;
            }
#pragma unroll
            for (int c = 0; c < KPL; ++c) {
                const int key = (part + WPH * c) * 32 + lane;
                if (key >= bl && key <= bh) eh[key] = ls_exp(__fsub_rn(x[c], m));
            }
        }
        __syncthreads();  // every e of the block is in es
        if (!busy) continue;
        // Keys in increasing order (ls_attn_warp_vstep). Only the head's last warp keeps l
        // (it writes the state): in a whole block the others skip its adds.
        const T* vl = vb + (part * 32 + lane) * DPL;
        auto step = [&](int i, float e) { ls_attn_warp_vstep<T, DPL, true>(vl + i * VS, e, l, acc); };
        int i = bl;
        if constexpr (BN % 4 == 0) {
            if (bl == 0 && bh == BN - 1) {  // a whole block (all but a split's ends): unrolled, no loop overhead
                if (part == WPH - 1) ls_attn_warp_vblock<T, DPL, BN, VS, true>(vl, eh, l, acc);
                else ls_attn_warp_vblock<T, DPL, BN, VS, false>(vl, eh, l, acc);
                i = BN;
            }
        }
        if (BN % 4 == 0) {  // e four keys at a time where they are 16-byte aligned
            for (; i <= bh && (i & 3) != 0; ++i) step(i, eh[i]);
            for (; i + 3 <= bh; i += 4) {
                const float4 e4 = *reinterpret_cast<const float4*>(eh + i);
                step(i, e4.x);
                step(i + 1, e4.y);
                step(i + 2, e4.z);
                step(i + 3, e4.w);
            }
        }
        for (; i <= bh; ++i) step(i, eh[i]);
        if (b == b1 || ((b + 1) * BN) % S == 0) {  // the split's last block: its state
            float* out = st + ((rh0 + hw) * nsplit + (b * BN / S - sf)) * (long long)(2 + D);
            if (part == WPH - 1 && lane == 0) {
                out[0] = m;
                out[1] = l;
            }
#pragma unroll
            for (int j = 0; j < DPL; ++j) out[2 + (part * 32 + lane) * DPL + j] = acc[j];
        }
    }
}

// The kernel entry: one symbol per storage type, the head dimension picked at run time.
template <typename T>
__device__ __forceinline__ void ls_attn_warp_any(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                                 const long long* __restrict__ tiles, const long long* __restrict__ rows,
                                                 const long long* __restrict__ base, const long long* __restrict__ table, long long page,
                                                 long long max_blocks, int hq, int hkv, int d, float scale, long long window,
                                                 float* __restrict__ st, int nsplit, int gh, int nhc, int spc) {
    switch (d) {
        case 64: ls_attn_warp<T, 64>(q, k, v, tiles, rows, base, table, page, max_blocks, hq, hkv, scale, window, st, nsplit, gh, nhc, spc); break;
        case 128: ls_attn_warp<T, 128>(q, k, v, tiles, rows, base, table, page, max_blocks, hq, hkv, scale, window, st, nsplit, gh, nhc, spc); break;
        case 256: ls_attn_warp<T, 256>(q, k, v, tiles, rows, base, table, page, max_blocks, hq, hkv, scale, window, st, nsplit, gh, nhc, spc); break;
        default: __trap();
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
    extern "C" __global__ void __launch_bounds__(LS_ATTN_THREADS)                                                                            \
        attn_tile_##SUFFIX(const T* q, const T* k, const T* v, const long long* tiles, const long long* rows, const long long* base,           \
                           const long long* table, long long page, long long max_blocks, int hq, int hkv, int d, float scale, long long window, \
                           float* st, int nsplit, int gh, int nhc, int qsp) {                                                                \
        ls_attn_tile<T>(q, k, v, tiles, rows, base, table, page, max_blocks, hq, hkv, d, scale, window, st, nsplit, gh, nhc, qsp);            \
    }                                                                                                                                        \
    extern "C" __global__ void __launch_bounds__(LS_ATTN_THREADS, LS_ATTN_FEW_CTAS)                                                          \
        attn_tile_few_##SUFFIX(const T* q, const T* k, const T* v, const long long* tiles, const long long* rows, const long long* base,       \
                               const long long* table, long long page, long long max_blocks, int hq, int hkv, int d, float scale,            \
                               long long window, float* st, int nsplit, int gh, int nhc, int qsp) {                                          \
        ls_attn_tile<T, LS_ATTN_FEW_SLOTS>(q, k, v, tiles, rows, base, table, page, max_blocks, hq, hkv, d, scale, window, st, nsplit, gh, nhc, \
                                           qsp);                                                                                             \
    }                                                                                                                                        \
    extern "C" __global__ void __launch_bounds__(32 * LS_ATTN_WARPS_PER_HEAD * LS_ATTN_WARP_HEADS, LS_ATTN_WARP_CTAS)                                                                   \
        attn_warp_##SUFFIX(const T* q, const T* k, const T* v, const long long* tiles, const long long* rows, const long long* base,           \
                           const long long* table, long long page, long long max_blocks, int hq, int hkv, int d, float scale, long long window, \
                           float* st, int nsplit, int gh, int nhc, int spc) {                                                                \
        ls_attn_warp_any<T>(q, k, v, tiles, rows, base, table, page, max_blocks, hq, hkv, d, scale, window, st, nsplit, gh, nhc, spc);       \
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
