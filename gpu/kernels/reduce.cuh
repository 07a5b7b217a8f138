// The lane tree of every row reduction (docs/spec/reduce.md; Rust: reference/src/reduce.rs).
//
// With L = LS_LANES lanes, lane l folds elements l, l+L, l+2L, ... in index order from the
// reduction's identity. The lanes are then combined pairwise: for stride s = L/2, ..., 1,
// lane l < s becomes combine(lane[l], lane[l+s]) (lower lane on the left). Lane 0 is the
// result. A block of LS_ROW_THREADS threads owns one row; thread t folds lanes t,
// t + LS_ROW_THREADS, ... (which threads own which lanes cannot change any bit: each lane
// is its own sequential chain).

struct LsSum {
    static __device__ __forceinline__ float identity() { return 0.0f; }
    static __device__ __forceinline__ float fold(float acc, float x) { return __fadd_rn(acc, x); }
    static __device__ __forceinline__ float combine(float lo, float hi) { return __fadd_rn(lo, hi); }
};

struct LsSumSq {
    static __device__ __forceinline__ float identity() { return 0.0f; }
    static __device__ __forceinline__ float fold(float acc, float x) { return __fmaf_rn(x, x, acc); }
    static __device__ __forceinline__ float combine(float lo, float hi) { return __fadd_rn(lo, hi); }
};

// max2(a, b): NaN if either is NaN; otherwise b if b > a, else a (left wins ties). Selects,
// not branches (`|` of the two tests, not `||`): the same value for every input, without a
// divergent branch and its convergence barrier per element (NVRTC turned `||` into both).
__device__ __forceinline__ float ls_max2(float a, float b) {
    const float m = b > a ? b : a;
    return ((a != a) | (b != b)) ? __int_as_float(0x7fc00000) : m;
}

struct LsMax {
    static __device__ __forceinline__ float identity() { return __int_as_float(0xff800000); }
    static __device__ __forceinline__ float fold(float acc, float x) { return ls_max2(acc, x); }
    static __device__ __forceinline__ float combine(float lo, float hi) { return ls_max2(lo, hi); }
};

// Reduces elements get(0..n) of one row with the lane tree. `sh` holds LS_LANES floats.
// Every thread of the block must call it; every thread gets the result.
template <typename Op, typename Get>
__device__ __forceinline__ float ls_lane_reduce(Get get, long long n, float* sh) {
    for (int l = threadIdx.x; l < LS_LANES; l += blockDim.x) {
        float acc = Op::identity();
        for (long long i = l; i < n; i += LS_LANES) acc = Op::fold(acc, get(i));
        sh[l] = acc;
    }
    __syncthreads();
    for (int s = LS_LANES / 2; s >= 1; s >>= 1) {
        for (int l = threadIdx.x; l < s; l += blockDim.x) sh[l] = Op::combine(sh[l], sh[l + s]);
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();  // sh may be reused by the caller's next reduction
    return r;
}

// ---- The row engine of rmsnorm, softmax, sum and mean --------------------------------
//
// Same lane tree as `ls_lane_reduce`, arranged for memory bandwidth. A row is served by
// `parts` CTAs (1, or the CTAs of one thread-block cluster on sm_90); CTA `part` owns the
// lanes [part·L/parts, (part+1)·L/parts) and so the elements j·L + lb + o (o < lc) of
// every chunk j: its "slice". Each lane's fold stays one sequential chain in one thread;
// the cluster only exchanges finished lanes, and every CTA then runs the whole combine
// stage over all L lanes itself (the same operations in the same order, so each gets
// the same bits).
//
// Dynamic shared memory: [L floats: lanes][16 B: broadcast][slice cache, in T]. When the
// launch gives enough for the cache (`ls_row_cache_bytes`), the slice is read from DRAM
// once into shared memory and every later pass reads it there; otherwise every pass reads
// global memory again (L2). The launcher's plan (gpu/src/ops/rowplan.rs) uses the same
// size rule; if the two disagreed, only speed would change, never bits.

#ifdef LS_HOST_EMULATION
// shim.h provides ls_dyn_smem, ls_dyn_smem_bytes, ls_cluster_rank/size/sync, ls_map_rank.
#else
__device__ __forceinline__ unsigned char* ls_dyn_smem() {
    extern __shared__ __align__(16) unsigned char ls_dsmem[];
    return ls_dsmem;
}
__device__ __forceinline__ unsigned ls_dyn_smem_bytes() {
    unsigned r;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(r));
    return r;
}
#if __CUDA_ARCH__ >= 900
__device__ __forceinline__ unsigned ls_cluster_rank() {
    unsigned r;
    asm("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return r;
}
__device__ __forceinline__ unsigned ls_cluster_size() {
    unsigned r;
    asm("mov.u32 %0, %%cluster_nctarank;" : "=r"(r));
    return r;
}
// Every thread of every CTA of the cluster; orders shared-memory writes before and reads after.
__device__ __forceinline__ void ls_cluster_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}
// The generic address of `p` (a shared-memory address of this CTA) in CTA `rank` of the cluster.
__device__ __forceinline__ float* ls_map_rank(float* p, unsigned rank) {
    unsigned long long r;
    asm volatile("mapa.u64 %0, %1, %2;" : "=l"(r) : "l"(p), "r"(rank));
    return reinterpret_cast<float*>(r);
}
#else
// Before sm_90 there are no clusters: every launch is one CTA per row.
__device__ __forceinline__ unsigned ls_cluster_rank() { return 0; }
__device__ __forceinline__ unsigned ls_cluster_size() { return 1; }
__device__ __forceinline__ void ls_cluster_sync() { __syncthreads(); }
__device__ __forceinline__ float* ls_map_rank(float* p, unsigned) { return p; }
#endif
#endif
// The attributes of every `*_wide_*` kernel (launched in clusters, one per row, of the
// size the plan gives: ops/rowplan.rs): registers for 5 CTAs per SM (≤ 48). With 4 (61–64
// registers), at most 62 clusters of 8 were resident on the H100's 132 SMs (ncu), so 64
// rows (512 CTAs) took two waves: softmax [64, 8192] ran 1.33x slower once its registers
// grew from 48 to 61 (docs/perf.md, eleventh session).
#define LS_ROW_WIDE_ATTR __launch_bounds__(LS_ROW_THREADS, 5)

// `for q in 0..n` over a 4-element register array, unrolled with constant indices so the
// array stays in registers (a loop bounded by a run-time n would put it in local memory).
#define LS_FOR4(q, n) _Pragma("unroll") for (int q = 0; q < 4; ++q) if (q < (n))

__device__ __forceinline__ long long ls_min_ll(long long a, long long b) { return a < b ? a : b; }

// Widens n ≤ 4 consecutive elements at p into v; one 16-byte (f32) or 8-byte (16-bit)
// load when `vec` (p aligned to 4 elements) and n == 4.
__device__ __forceinline__ void ls_ld4(const float* p, int n, bool vec, float v[4]) {
    if (vec && n == 4) {
        const float4 q = *reinterpret_cast<const float4*>(p);
        v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
    } else {
        LS_FOR4(i, n) v[i] = p[i];
    }
}
template <typename T> __device__ __forceinline__ void ls_ld4(const T* p, int n, bool vec, float v[4]) {
    if (vec && n == 4) {
        const uint2 q = *reinterpret_cast<const uint2*>(p);
        T a, b, c, d;
        a.bits = (unsigned short)(q.x & 0xffffu), b.bits = (unsigned short)(q.x >> 16);
        c.bits = (unsigned short)(q.y & 0xffffu), d.bits = (unsigned short)(q.y >> 16);
        v[0] = ls_to_f32(a), v[1] = ls_to_f32(b), v[2] = ls_to_f32(c), v[3] = ls_to_f32(d);
    } else {
        LS_FOR4(i, n) v[i] = ls_to_f32(p[i]);
    }
}
// Narrows (round to nearest even) and stores n ≤ 4 values; one vector store when `vec` and n == 4.
__device__ __forceinline__ void ls_st4(float* p, int n, bool vec, const float v[4]) {
    if (vec && n == 4) {
        float4 q;
        q.x = v[0], q.y = v[1], q.z = v[2], q.w = v[3];
        *reinterpret_cast<float4*>(p) = q;
    } else {
        LS_FOR4(i, n) p[i] = v[i];
    }
}
template <typename T> __device__ __forceinline__ void ls_st4(T* p, int n, bool vec, const float v[4]) {
    if (vec && n == 4) {
        uint2 q;
        q.x = ls_pack2<T>(v[0], v[1]), q.y = ls_pack2<T>(v[2], v[3]);
        *reinterpret_cast<uint2*>(p) = q;
    } else {
        LS_FOR4(i, n) p[i] = ls_from_f32<T>(v[i]);
    }
}
// Whether p may be read 4 elements at a time (16 B for f32, 8 B for 16-bit types).
template <typename T> __device__ __forceinline__ bool ls_aligned4(const T* p) {
    return (reinterpret_cast<unsigned long long>(p) % (4 * sizeof(T))) == 0;
}

// Bytes of dynamic shared memory in front of the slice cache: L lane values + broadcast.
__host__ __device__ __forceinline__ unsigned long long ls_row_head_bytes() { return (unsigned long long)LS_LANES * 4 + 16; }
// Bytes of the slice cache of one CTA owning lc lanes of a row of width H in storage of
// `elem` bytes: ceil(H / L) chunks of lc elements (the last chunk's tail unused).
__host__ __device__ __forceinline__ unsigned long long ls_row_cache_bytes(long long H, int lc, int elem) {
    return (unsigned long long)((H + LS_LANES - 1) / LS_LANES) * lc * elem;
}

// Where the staging buffer of `ls_row_reduce_staged` starts: behind the slice cache, at a
// 16-byte boundary (its values are stored four at a time). A launch that gives
// ls_row_stage_offset(…) + LS_ROW_STAGE_BYTES bytes gets one (ops/rowplan.rs, the same rule).
__host__ __device__ __forceinline__ unsigned long long ls_row_stage_offset(long long H, int lc, int elem) {
    return (ls_row_head_bytes() + ls_row_cache_bytes(H, lc, elem) + 15) / 16 * 16;
}

// Asynchronous copies global → shared (sm_80+). A thread's wait covers its own copies: a
// thread reads back what it copied itself (the warp engine), or the CTA synchronises after
// every thread's wait (ls_row_fill).
#if defined(LS_HOST_EMULATION)
template <int B> __device__ __forceinline__ void ls_cp_async(void* dst, const void* src) { std::memcpy(dst, src, B); }
__device__ __forceinline__ void ls_cp_async_commit() {}
template <int N> __device__ __forceinline__ void ls_cp_async_wait() {}
#elif __CUDA_ARCH__ >= 800
template <int B> __device__ __forceinline__ void ls_cp_async(void* dst, const void* src) {
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2;" ::"r"(d), "l"(src), "n"(B) : "memory");
}
__device__ __forceinline__ void ls_cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void ls_cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }
#else
template <int B> __device__ __forceinline__ void ls_cp_async(void* dst, const void* src) {
    if (B == 16) *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
    else *reinterpret_cast<uint2*>(dst) = *reinterpret_cast<const uint2*>(src);
}
__device__ __forceinline__ void ls_cp_async_commit() {}
template <int N> __device__ __forceinline__ void ls_cp_async_wait() {}
#endif

// One CTA's place in its row.
struct LsRow {
    long long row;  // the row
    long long H;    // its width
    int part, lb, lc, lc_log2;  // this CTA owns lanes [lb, lb + lc); lc = L / parts
    long long nchunk;           // ceil(H / L)
    float* lanes;               // shared: L floats
    float* bcast;               // shared: one float
    unsigned char* cache;       // shared: the slice (k = j·lc + o), or null
    float* stage;               // shared: stage_chunks chunks of lc floats behind the cache, or null
    long long stage_chunks;
    __device__ __forceinline__ long long elem(long long k) const { return ((k >> lc_log2) * LS_LANES) + lb + (k & (lc - 1)); }
    __device__ __forceinline__ long long slice_len() const { return nchunk * lc; }
};

// `elem` is sizeof(T) of the cached storage type, 0 where the op never caches.
__device__ __forceinline__ LsRow ls_row_begin(int H, int elem) {
    LsRow R;
    const unsigned parts = ls_cluster_size();
    R.part = (int)ls_cluster_rank();
    R.row = (long long)blockIdx.x / parts;
    R.H = H;
    R.lc = LS_LANES / (int)parts;
    R.lc_log2 = __ffs(R.lc) - 1;
    R.lb = R.part * R.lc;
    R.nchunk = ((long long)H + LS_LANES - 1) / LS_LANES;
    unsigned char* s = ls_dyn_smem();
    R.lanes = reinterpret_cast<float*>(s);
    R.bcast = reinterpret_cast<float*>(s + (unsigned long long)LS_LANES * 4);
    const bool fits = elem > 0 && ls_dyn_smem_bytes() >= ls_row_head_bytes() + ls_row_cache_bytes(H, R.lc, elem);
    R.cache = fits ? s + ls_row_head_bytes() : nullptr;
    const unsigned long long so = ls_row_stage_offset(H, R.lc, elem);
    R.stage_chunks = LS_ROW_STAGE_BYTES / (4 * R.lc);
    R.stage = fits && R.stage_chunks > 0 && ls_dyn_smem_bytes() >= so + LS_ROW_STAGE_BYTES ? reinterpret_cast<float*>(s + so) : nullptr;
    return R;
}

// Visits every element of slice indices [kb, ke) of this CTA's slice once (kb, ke: whole
// chunks), in groups of ≤ 4 consecutive elements (4 while lc ≥ 4): first `load(k, e, n, v)`
// of U groups (so that many loads are in flight), then `store(k, e, n, v)` of each. k: slice
// index, e: row index. U is smaller where each element costs an exp: the unrolled copies
// make the program slow to compile.
#define LS_ROW_UNROLL 4
template <int U, typename Load, typename Store>
__device__ __forceinline__ void ls_row_map_range(const LsRow& R, long long kb, long long ke, Load load, Store store) {
    const int W = R.lc >= 4 ? 4 : 1;
    const long long total = ke, step = (long long)W * blockDim.x;
    for (long long k0 = kb + (long long)W * threadIdx.x; k0 < total; k0 += step * U) {
        float v[U][4];
        long long e[U];
        int n[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const long long k = k0 + u * step;
            e[u] = k < total ? R.elem(k) : R.H;
            n[u] = e[u] < R.H ? (int)ls_min_ll(W, R.H - e[u]) : 0;
            if (n[u] > 0) load(k, e[u], n[u], v[u]);
        }
#pragma unroll
        for (int u = 0; u < U; ++u)
            if (n[u] > 0) store(k0 + u * step, e[u], n[u], v[u]);
    }
}
// The whole slice.
template <int U = LS_ROW_UNROLL, typename Load, typename Store>
__device__ __forceinline__ void ls_row_map(const LsRow& R, Load load, Store store) {
    ls_row_map_range<U>(R, 0, R.slice_len(), load, store);
}

// Copies this CTA's slice of row `src` (as stored) into the slice cache, every copy in
// flight at once: one asynchronous copy per full aligned quad, a plain one for the rest.
// Returns when the whole CTA sees the cache (the same bytes ls_row_map would store).
template <typename T> __device__ __forceinline__ void ls_row_fill(const LsRow& R, const T* src, T* cache) {
    const int W = R.lc >= 4 ? 4 : 1;
    const bool vec = W == 4 && ls_aligned4(src);
    const long long total = R.slice_len();
    for (long long k = (long long)W * threadIdx.x; k < total; k += (long long)W * blockDim.x) {
        const long long e = R.elem(k);
        const int n = e < R.H ? (int)ls_min_ll(W, R.H - e) : 0;
        if (vec && n == 4) ls_cp_async<4 * sizeof(T)>(cache + k, src + e);
        else
            for (int q = 0; q < n; ++q) cache[k + q] = src[e + q];
    }
    ls_cp_async_commit();
    ls_cp_async_wait<0>();
    __syncthreads();
}

// Combines lanes[0 .. L) in place (strides L/2 … 32 through shared memory, 16 … 1 with
// shuffles in warp 0; each surviving lane keeps its own value on the left) and returns
// lane 0 to every thread. The caller has synchronised after writing the lanes.
template <typename Op>
__device__ __forceinline__ float ls_row_combine(const LsRow& R) {
    float* sh = R.lanes;
    for (int s = LS_LANES / 2; s >= 32; s >>= 1) {
        for (int l = threadIdx.x; l < s; l += blockDim.x) sh[l] = Op::combine(sh[l], sh[l + s]);
        __syncthreads();
    }
    if (threadIdx.x < 32) {
        const int n = LS_LANES < 32 ? LS_LANES : 32;
        float v = (int)threadIdx.x < n ? sh[threadIdx.x] : Op::identity();
        for (int s = n / 2; s >= 1; s >>= 1) {
            const float hi = __shfl_down_sync(0xffffffffu, v, s);
            if ((int)threadIdx.x < s) v = Op::combine(v, hi);
        }
        if (threadIdx.x == 0) *R.bcast = v;
    }
    __syncthreads();
    return *R.bcast;
}

// Folds chunks [j0, j1) of this CTA's lanes, W consecutive lanes per thread (W = 4: one
// vector load per chunk; W = 1: one lane per thread): each lane's chain runs over its chunks
// in order, from Op::identity() (carry = false) or from the chain R.lanes holds (carry = true:
// ls_row_reduce_staged's groups), and is left in R.lanes: the block engine's one lane chain,
// plain and staged.
template <int W, int U, typename Op, typename Load>
__device__ __forceinline__ void ls_row_fold(const LsRow& R, long long j0, long long j1, bool carry, Load load) {
    for (int o = W * threadIdx.x; o < R.lc; o += W * blockDim.x) {
        float acc[4] = {Op::identity(), Op::identity(), Op::identity(), Op::identity()};
        if (carry) {
            LS_FOR4(q, W) acc[q] = R.lanes[R.lb + o + q];
        }
        const long long first = (long long)R.lb + o;  // row index of (j = 0, o)
        // Chunks where all W elements exist, U at a time (loads first, so
        // that many are in flight), then the rest, the last maybe partial.
        const long long full = ls_min_ll(j1, R.H - first >= W ? (R.H - first - W) / LS_LANES + 1 : 0);
        long long j = j0;
        for (; j + U <= full; j += U) {
            float v[U][4];
#pragma unroll
            for (int u = 0; u < U; ++u) load(j + u, o, W, v[u]);
#pragma unroll
            for (int u = 0; u < U; ++u) LS_FOR4(q, W) acc[q] = Op::fold(acc[q], v[u][q]);
        }
        for (long long e = j * LS_LANES + first; j < j1 && e < R.H; ++j, e += LS_LANES) {
            float v[4];
            const int n = (int)ls_min_ll(W, R.H - e);
            load(j, o, n, v);
            LS_FOR4(q, n) acc[q] = Op::fold(acc[q], v[q]);
        }
        LS_FOR4(q, W) R.lanes[R.lb + o + q] = acc[q];
    }
}

// After the folds (R.lanes holds this CTA's lanes): every CTA of the row gathers all L
// lanes and runs the combine.
template <typename Op>
__device__ __forceinline__ float ls_row_finish(const LsRow& R) {
    __syncthreads();
    const unsigned parts = LS_LANES / R.lc;
    if (parts > 1) {
        // Fetch the other CTAs' lanes; the second barrier keeps every CTA's lanes (and the
        // CTA itself) alive until all have read them.
        ls_cluster_sync();
        for (int l = threadIdx.x; l < LS_LANES; l += blockDim.x) {
            const unsigned owner = (unsigned)(l / R.lc);
            if ((int)owner != R.part) R.lanes[l] = ls_map_rank(R.lanes, owner)[l];
        }
        ls_cluster_sync();
    }
    return ls_row_combine<Op>(R);
}

// The lane tree of this row over the values `load(j, o, n, v)` gives for elements
// j·L + lb + o … + n−1 (n ≤ 4, all in the row). Every thread of every CTA of the row
// must call it; every thread gets the result.
template <typename Op, int U = LS_ROW_UNROLL, typename Load>
__device__ __forceinline__ float ls_row_reduce(const LsRow& R, Load load) {
    // 4 consecutive lanes per thread where there are lanes for every thread that way,
    // else one: the fold is the only sequential part, so it wants many threads.
    if (R.lc >= 4 * (int)blockDim.x) ls_row_fold<4, U, Op>(R, 0, R.nchunk, false, load);
    else ls_row_fold<1, U, Op>(R, 0, R.nchunk, false, load);
    return ls_row_finish<Op>(R);
}

// The lane tree's folds, staged: `value(k, e, n, v)` overwrites v[0 .. n) (slice indices
// k …, row indices e …, the elements as loaded by the callback) with the values to fold.
// A group of `group` chunks at a time, every thread computes values of whole quads into
// `stage` (so all threads share the work where a CTA owns fewer lanes than it has threads,
// as a wide CTA's 128 lanes), then each lane folds the group's values from there in chunk
// order, its chain carried between groups in R.lanes. The same chains and combine as
// ls_row_reduce, so the same bits. `stage` may be the f32 slice cache itself with group =
// R.nchunk: the values then replace the cached elements they came from.
template <typename Op, int U = 8, typename Value>
__device__ __forceinline__ float ls_row_reduce_staged(const LsRow& R, float* stage, long long group, Value value) {
    for (int o = threadIdx.x; o < R.lc; o += blockDim.x) R.lanes[R.lb + o] = Op::identity();
    for (long long j0 = 0; j0 < R.nchunk; j0 += group) {
        const long long j1 = ls_min_ll(j0 + group, R.nchunk), kb = j0 * R.lc;
        ls_row_map_range<2>(R, kb, j1 * R.lc, value, [&](long long k, long long, int n, const float v[4]) { ls_st4(stage + (k - kb), n, true, v); });
        __syncthreads();
        // One lane per thread, its chain carried in R.lanes from the group before.
        ls_row_fold<1, U, Op>(R, j0, j1, true, [&](long long j, int o, int, float v[4]) { v[0] = stage[(j - j0) * R.lc + o]; });
        __syncthreads();  // the group's values read before the next group's overwrite them
    }
    return ls_row_finish<Op>(R);
}

// ---- The warp engine (rmsnorm; softmax measured slower on it: docs/perf.md) ----------
//
// The same lane tree, arranged so that combining costs two barriers instead of one per
// level. A row is served by one CTA of R = min(4, L/128) warps (LS_WARP_THREADS = 32R).
// Lane l = 4t + q + 128g of the tree belongs to thread t (0…31) of warp w = g mod R, slot
// i = g / R, component q: a warp loads 128 consecutive elements (j·L + 128g … + 127) of
// chunk j at a time, one vector per thread, and each lane's chain runs over j in order, as
// in every engine. The combine walks the lane bits from the top, each where it lives: g's
// high bits (strides L/2 … 128R) pair slots of one thread; g's low bits (strides 64R … 128)
// pair warps, through shared memory; t's bits (64 … 4) pair threads of warp 0, by
// shuffles; q's bits (2, 1) pair components of thread 0.
// Each thread keeps the elements it loads in its own part of shared memory (the "row
// cache": nobody else reads them, so no barrier guards it), so later passes read no DRAM.
// The CTAs are persistent: CTA b serves rows b, b + gridDim.x, …, and while it works on one
// row its copies of the next are already in flight (cp.async into the other of two cache
// buffers), so DRAM stays busy through the combine and output phases. Which CTA serves a
// row changes no bit of it. The launcher (ops/rowplan.rs) uses this engine when L is a
// multiple of 128 and the row's buffers fit in ROW_CACHE_MAX; the block engine otherwise.

#define LS_WG (LS_LANES >= 128 ? LS_LANES / 128 : 1)  // 128-lane groups of the tree
#define LS_WARP_R (LS_WG >= 4 ? 4 : LS_WG)           // warps per row
#define LS_WARP_G (LS_WG / LS_WARP_R)                // slots per thread and chunk
#define LS_WARP_THREADS (32 * LS_WARP_R)

// Four consecutive elements of T as stored: one 16-byte (f32) or 8-byte (16-bit) value.
template <typename T> struct LsQuad { uint2 r; };
template <> struct LsQuad<float> { float4 r; };

template <typename T> __device__ __forceinline__ void ls_quad_widen(const LsQuad<T>& a, float v[4]) {
    T b[4];
    b[0].bits = (unsigned short)(a.r.x & 0xffffu), b[1].bits = (unsigned short)(a.r.x >> 16);
    b[2].bits = (unsigned short)(a.r.y & 0xffffu), b[3].bits = (unsigned short)(a.r.y >> 16);
    LS_FOR4(q, 4) v[q] = ls_to_f32(b[q]);
}
__device__ __forceinline__ void ls_quad_widen(const LsQuad<float>& a, float v[4]) { v[0] = a.r.x, v[1] = a.r.y, v[2] = a.r.z, v[3] = a.r.w; }
// Rounds to T (exact where v came from T).
template <typename T> __device__ __forceinline__ LsQuad<T> ls_quad_narrow(const float v[4]) {
    LsQuad<T> a;
    a.r.x = ls_pack2<T>(v[0], v[1]);
    a.r.y = ls_pack2<T>(v[2], v[3]);
    return a;
}
template <> __device__ __forceinline__ LsQuad<float> ls_quad_narrow<float>(const float v[4]) {
    LsQuad<float> a;
    a.r.x = v[0], a.r.y = v[1], a.r.z = v[2], a.r.w = v[3];
    return a;
}
// n ≤ 4 elements at p as stored (missing ones zero); one load when `vec` and n == 4.
template <typename T> __device__ __forceinline__ LsQuad<T> ls_quad_load(const T* p, int n, bool vec) {
    LsQuad<T> a;
    if (vec && n == 4) {
        a.r = *reinterpret_cast<const decltype(a.r)*>(p);
    } else {
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        LS_FOR4(q, n) v[q] = ls_to_f32(p[q]);
        a = ls_quad_narrow<T>(v);
    }
    return a;
}
// Stores the first n ≤ 4 elements of a as they are; one store when `vec` and n == 4.
template <typename T> __device__ __forceinline__ void ls_quad_store(T* p, int n, bool vec, const LsQuad<T>& a) {
    if (vec && n == 4) {
        *reinterpret_cast<decltype(a.r)*>(p) = a.r;
    } else {
        float v[4];
        ls_quad_widen(a, v);
        LS_FOR4(q, n) p[q] = ls_from_f32<T>(v[q]);
    }
}

// Dynamic shared memory of a warp-engine CTA: the exchange (R − 1 warps × 32 × 4 floats,
// padded to R) and the result, then the op's buffers: ceil(H / L) chunks of L elements of
// `elem_bytes` bytes in all (ops/rowplan.rs `warp_smem_bytes`: the same rule).
__host__ __device__ __forceinline__ unsigned long long ls_warp_head_bytes() { return (unsigned long long)LS_WARP_R * 128 * 4 + 16; }
__host__ __device__ __forceinline__ unsigned long long ls_warp_buffer_elems(long long H) { return (unsigned long long)((H + LS_LANES - 1) / LS_LANES) * LS_LANES; }
__host__ __device__ __forceinline__ unsigned long long ls_warp_smem_bytes(long long H, int elem_bytes) {
    return ls_warp_head_bytes() + ls_warp_buffer_elems(H) * elem_bytes;
}

// One thread's place in the rows of its CTA.
struct LsWarpRow {
    int H, nchunk;
    int t, w;      // lane of the warp, warp of the row
    float* xch;    // shared: the warp exchange
    float* bc;     // shared: the row's result
    unsigned char* buf;  // shared: the op's buffers, ls_warp_buffer_elems(H) elements each
    // Row index of component 0 of slot i in chunk j (< 2^31: the row fits the cache).
    __device__ __forceinline__ int elem(int j, int i) const { return j * LS_LANES + 128 * (w + LS_WARP_R * i) + 4 * t; }
    // Elements of (j, i) in the row: 4, fewer at the row's end, 0 past it.
    __device__ __forceinline__ int count(int j, int i) const {
        const int e = elem(j, i);
        return e < H ? (H - e < 4 ? H - e : 4) : 0;
    }
    // Buffer `b` as quads Q (four elements each); this thread's entry for (j, i).
    // Consecutive threads have consecutive entries.
    template <typename Q> __device__ __forceinline__ Q& at(int b, int j, int i) const {
        Q* q = reinterpret_cast<Q*>(buf) + (unsigned long long)b * (ls_warp_buffer_elems(H) / 4);
        return q[(j * LS_WARP_G + i) * LS_WARP_THREADS + (int)threadIdx.x];
    }
};

__device__ __forceinline__ LsWarpRow ls_warp_row(int H) {
    LsWarpRow W;
    W.t = (int)threadIdx.x % 32;
    W.w = (int)threadIdx.x / 32;
    W.H = H;
    W.nchunk = (H + LS_LANES - 1) / LS_LANES;
    unsigned char* s = ls_dyn_smem();
    W.xch = reinterpret_cast<float*>(s);
    W.bc = reinterpret_cast<float*>(s + LS_WARP_R * 128 * 4);
    W.buf = s + ls_warp_head_bytes();
    return W;
}

// Combines the slot partials acc[i][q] of every thread (their lanes' finished chains) down
// to lane 0 and returns it to every thread of the row, for the layout lane l = 4t + q + 128g,
// g = w + R·i (t: lane of warp w of R, slot i of G): slots of one thread first, then warps
// through `xch` ((R − 1) × 32 × 4 floats, by warp 0), then threads of warp 0 by shuffles,
// then components of thread 0 (`bc`: one float). The warp engine (R = LS_WARP_R) and the
// register engine (softmax.cu, R = LS_ROW_THREADS / 32) share it.
template <typename Op, int R, int G>
__device__ __forceinline__ float ls_quad_combine(float acc[G][4], float* xch, float* bc, int w, int t) {
#pragma unroll
    for (int s = G / 2; s >= 1; s >>= 1)
#pragma unroll
        for (int i = 0; i < s; ++i) LS_FOR4(q, 4) acc[i][q] = Op::combine(acc[i][q], acc[i + s][q]);
    if (R > 1) {
        if (w != 0) LS_FOR4(q, 4) xch[((w - 1) * 32 + t) * 4 + q] = acc[0][q];
        __syncthreads();
        if (w == 0) {
            float v[R][4];
            LS_FOR4(q, 4) v[0][q] = acc[0][q];
#pragma unroll
            for (int u = 1; u < R; ++u) LS_FOR4(q, 4) v[u][q] = xch[((u - 1) * 32 + t) * 4 + q];
#pragma unroll
            for (int s = R / 2; s >= 1; s >>= 1)
#pragma unroll
                for (int u = 0; u < s; ++u) LS_FOR4(q, 4) v[u][q] = Op::combine(v[u][q], v[u + s][q]);
            LS_FOR4(q, 4) acc[0][q] = v[0][q];
        }
    }
    float r = 0.0f;
    if (w == 0) {
#pragma unroll
        for (int d = 16; d >= 1; d >>= 1)
            LS_FOR4(q, 4) acc[0][q] = Op::combine(acc[0][q], __shfl_down_sync(0xffffffffu, acc[0][q], d));
        r = Op::combine(Op::combine(acc[0][0], acc[0][2]), Op::combine(acc[0][1], acc[0][3]));
        if (t == 0) *bc = r;
    }
    // Warp 0 has read xch before this barrier, so the next reduction may write it; it
    // writes bc only after its own first barrier, when every thread has read this one.
    __syncthreads();
    return *bc;
}

template <typename Op> __device__ __forceinline__ float ls_warp_combine(const LsWarpRow& W, float acc[LS_WARP_G][4]) {
    return ls_quad_combine<Op, LS_WARP_R, LS_WARP_G>(acc, W.xch, W.bc, W.w, W.t);
}

// The lane tree of a row over the values `get(j, i, e, n, v)` gives for the n ≤ 4
// elements of slot i in chunk j (e: row index of the first). `Full`: the caller knows that
// H is a multiple of L, so every slot holds 4 elements; n is then the constant 4 and the
// per-slot bounds tests are gone from the loops (the same slots, in the same order).
template <typename Op, bool Full, typename Get> __device__ __forceinline__ float ls_warp_reduce(const LsWarpRow& W, Get get) {
    float acc[LS_WARP_G][4];
#pragma unroll
    for (int i = 0; i < LS_WARP_G; ++i) LS_FOR4(q, 4) acc[i][q] = Op::identity();
#pragma unroll 4
    for (int j = 0; j < W.nchunk; ++j)
#pragma unroll
        for (int i = 0; i < LS_WARP_G; ++i) {
            const int n = Full ? 4 : W.count(j, i);
            if (Full || n > 0) {
                float v[4];
                get(j, i, W.elem(j, i), n, v);
                LS_FOR4(q, n) acc[i][q] = Op::fold(acc[i][q], v[q]);
            }
        }
    return ls_warp_combine<Op>(W, acc);
}

// Calls f(j, i, e, n) for every slot of the row with elements (e: row index of the first);
// `Full` as in ls_warp_reduce.
template <bool Full, typename F> __device__ __forceinline__ void ls_warp_map(const LsWarpRow& W, F f) {
#pragma unroll 4
    for (int j = 0; j < W.nchunk; ++j)
#pragma unroll
        for (int i = 0; i < LS_WARP_G; ++i) {
            const int n = Full ? 4 : W.count(j, i);
            if (Full || n > 0) f(j, i, W.elem(j, i), n);
        }
}

// Copies this thread's part of row `src` (as stored) into buffer `b` of quads of T: one
// asynchronous copy per full aligned quad, a plain load for the rest (the row's end, or
// rows not aligned to 4 elements). The caller commits and waits.
template <bool Full, typename T> __device__ __forceinline__ void ls_warp_prefetch(const LsWarpRow& W, int b, const T* src) {
    const bool vec = ls_aligned4(src);
    ls_warp_map<Full>(W, [&](int j, int i, int e, int n) {
        LsQuad<T>& d = W.at<LsQuad<T>>(b, j, i);
        if (vec && n == 4) ls_cp_async<sizeof(LsQuad<T>)>(&d, src + e);
        else d = ls_quad_load(src + e, n, false);
    });
}

// ---- The register engine (softmax, rmsnorm): the row in registers ---------------------
//
// One CTA of LS_ROW_THREADS per row, the lanes laid out as in the warp engine with R = all
// LS_ROW_THREADS / 32 warps of the CTA: lane l = 4t + q + 128g, g = w + R·i, slot i < G =
// L / (4·LS_ROW_THREADS); quad f = j·G + i of a thread holds elements j·L + 4·(threadIdx.x +
// LS_ROW_THREADS·i) … + 3 of chunk j. The op loads its whole row at once (every load in
// flight), every pass reads it in registers, and the combine is the warp engine's
// (`ls_quad_combine`). Each lane's chain still runs over j in order: the bits of every
// other engine. The launcher (ops/rowplan.rs `regs_kernel`) uses it where L is a multiple
// of 4·LS_ROW_THREADS and a thread holds at most Q quads; elsewhere the kernels trap.
#if LS_LANES % (4 * LS_ROW_THREADS) == 0
#define LS_REG_ROWS 1
#define LS_REG_G (LS_LANES / (4 * LS_ROW_THREADS))

// The combine's exchange ((R − 1) × 32 × 4 floats, R = LS_ROW_THREADS / 32 warps) and, after
// it, the result: one array per kernel, reused by each of its reductions (ls_quad_combine
// allows that).
#define LS_REG_XCH_FLOATS ((LS_ROW_THREADS / 32 > 1 ? LS_ROW_THREADS / 32 - 1 : 1) * 32 * 4)
__device__ __forceinline__ float* ls_reg_exchange() {
    __shared__ __align__(16) float xch[LS_REG_XCH_FLOATS + 4];
    return xch;
}

// x, computed on every path: NVVM sank the exp of softmax's sum into a branch around the
// fold (`q < n ? fold(acc, exp(x)) : acc` became a divergent branch with its convergence
// barrier per element, ~6 instructions of ~33; SASS of e877305). A volatile asm cannot be
// moved into a branch; ptxas drops the move.
__device__ __forceinline__ float ls_computed(float x) {
#ifdef LS_HOST_EMULATION
    return x;
#else
    float r;
    asm volatile("mov.b32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
#endif
}

template <int Q> struct LsRegRow {
    static constexpr int R = LS_ROW_THREADS / 32, G = LS_REG_G;
    static_assert(Q % G == 0, "whole chunks per thread");
    int n[Q];  // elements of quad f in the row: 4, fewer at its end, 0 past it
    // Row index of the first element of quad f.
    static __device__ __forceinline__ int elem(int f) { return (f / G) * LS_LANES + 4 * ((int)threadIdx.x + LS_ROW_THREADS * (f % G)); }
    __device__ __forceinline__ explicit LsRegRow(int H) {
#pragma unroll
        for (int f = 0; f < Q; ++f) n[f] = elem(f) < H ? min(4, H - elem(f)) : 0;
    }
    // Quad f of every row element into v[f] (widened); vector loads where `row` is aligned.
    // Slots past the row's end hold +0, so that code may compute on every slot and keep only
    // the row's (`reduce`: selects instead of a branch per element).
    template <typename T> __device__ __forceinline__ void load(const T* row, float v[Q][4]) const {
        const bool vec = ls_aligned4(row);
#pragma unroll
        for (int f = 0; f < Q; ++f) {
            LS_FOR4(q, 4) v[f][q] = 0.0f;
            if (n[f] > 0) ls_ld4(row + elem(f), n[f], vec, v[f]);
        }
    }
    // The same, kept as stored (LsQuad: half the registers of floats for 16-bit types).
    template <typename T> __device__ __forceinline__ void load(const T* row, LsQuad<T> a[Q]) const {
        const bool vec = ls_aligned4(row);
        const float zero[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int f = 0; f < Q; ++f) a[f] = n[f] > 0 ? ls_quad_load(row + elem(f), n[f], vec) : ls_quad_narrow<T>(zero);
    }
    template <typename T> __device__ __forceinline__ void store(T* row, const LsQuad<T> a[Q]) const {
        const bool vec = ls_aligned4(row);
#pragma unroll
        for (int f = 0; f < Q; ++f)
            if (n[f] > 0) ls_quad_store(row + elem(f), n[f], vec, a[f]);
    }
    template <typename T> __device__ __forceinline__ void store(T* row, const float v[Q][4]) const {
        const bool vec = ls_aligned4(row);
#pragma unroll
        for (int f = 0; f < Q; ++f)
            if (n[f] > 0) ls_st4(row + elem(f), n[f], vec, v[f]);
    }
    // The lane tree over value(f, q) (component q of quad f, in chain order); every thread
    // of the CTA must call it and gets the result. value is called for every slot, past the
    // row's end too (on what `load` put there), and only the row's values are folded: a
    // select per element where a branch around value (an exp, say) cost a divergent branch
    // and its convergence barrier.
    template <typename Op, typename V> __device__ __forceinline__ float reduce(V value) const {
        float acc[G][4];
#pragma unroll
        for (int i = 0; i < G; ++i) LS_FOR4(q, 4) acc[i][q] = Op::identity();
#pragma unroll
        for (int f = 0; f < Q; ++f)
            LS_FOR4(q, 4) {
                const float x = ls_computed(value(f, q));
                acc[f % G][q] = q < n[f] ? Op::fold(acc[f % G][q], x) : acc[f % G][q];
            }
        float* xch = ls_reg_exchange();
        return ls_quad_combine<Op, R, G>(acc, xch, xch + LS_REG_XCH_FLOATS, (int)threadIdx.x / 32, (int)threadIdx.x % 32);
    }
};
#endif
