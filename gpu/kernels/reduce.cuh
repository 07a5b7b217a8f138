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

// max2(a, b): NaN if either is NaN; otherwise b if b > a, else a (left wins ties).
__device__ __forceinline__ float ls_max2(float a, float b) {
    if (isnan(a) || isnan(b)) return __int_as_float(0x7fc00000);
    return b > a ? b : a;
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
