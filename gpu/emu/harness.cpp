// Runs lockstep's CUDA kernels on the CPU (shim.h) and compares them bit for bit with a
// naive, single-threaded statement of each tree written here from docs/spec. Checks the
// kernels' indexing, tiling, chunk split / combine, padding and lane tree; not the GPU's
// arithmetic. Built and run by scripts/gpu-emulate; exit status 0 = all equal.
#include "shim.h"
#include PROGRAM
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <string>
#include <type_traits>

static uint64_t g_state = 0x1234;
static float uniform() {
    g_state += 0x9E3779B97F4A7C15ull;
    uint64_t z = g_state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 8388608.0f) - 1.0f;
}
static const unsigned SPECIALS[] = {0x0u, 0x80000000u, 0x1u, 0x7fffffu, 0x800000u, 0x7f7fffffu, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x3f800000u, 0xbf800000u, 0x80000001u};
static float draw(float scale, bool specials) {
    float v = scale * uniform();
    if (specials && (uniform() < -0.75f)) v = __uint_as_float(SPECIALS[(unsigned)((uniform() + 1.0f) * 6.0f) % 12]);
    return v;
}
template <typename T> static std::vector<T> gen(size_t n, float scale, bool specials = false) {
    std::vector<T> v(n);
    for (auto& e : v) e = ls_from_f32<T>(draw(scale, specials));
    return v;
}
static uint32_t bits(float x) { return __float_as_uint(x); }
static uint32_t bits(ls_bf16 x) { return x.bits; }
static uint32_t bits(ls_f16 x) { return x.bits; }
template <typename O> static bool same(O a, O b) {
    float fa = ls_to_f32(a), fb = ls_to_f32(b);
    return bits(a) == bits(b) || (std::isnan(fa) && std::isnan(fb));
}
static int g_failures = 0, g_checks = 0;
template <typename O> static void expect_equal(const std::string& what, const std::vector<O>& want, const std::vector<O>& got) {
    ++g_checks;
    for (size_t i = 0; i < want.size(); ++i)
        if (!same(want[i], got[i])) {
            std::printf("FAIL %s: index %zu: want 0x%08x (%g) got 0x%08x (%g)\n", what.c_str(), i, bits(want[i]), ls_to_f32(want[i]), bits(got[i]),
                        ls_to_f32(got[i]));
            ++g_failures;
            return;
        }
    std::printf("ok   %s (%zu elements)\n", what.c_str(), want.size());
}

// ---- matmul: docs/spec/matmul.md, written plainly ----
template <typename T, typename O>
static std::vector<O> naive_matmul(const std::vector<T>& A, const std::vector<T>& B, const float* bias, int batch, int M, int N, int K) {
    const int kc = LS_KC > 0 ? LS_KC : K;
    std::vector<O> C((size_t)batch * M * N);
    for (int p = 0; p < batch; ++p)
        for (int i = 0; i < M; ++i)
            for (int j = 0; j < N; ++j) {
                float t = 0;
                for (int k0 = 0, c = 0; k0 < K; k0 += kc, ++c) {
                    float acc = 0.0f;
                    for (int k = k0; k < std::min(K, k0 + kc); ++k)
                        acc = std::fma(ls_to_f32(A[((size_t)p * M + i) * K + k]), ls_to_f32(B[((size_t)p * K + k) * N + j]), acc);
                    t = c == 0 ? acc : t + acc;
                }
                if (bias) t = t + bias[j];
                C[((size_t)p * M + i) * N + j] = ls_from_f32<O>(t);
            }
    return C;
}

// Every kernel of the family (gpu/src/ops/matmul.rs `plan` picks one), whole (split 0),
// split + combine (1) and, for the skinny kernels, split with the chunks of a column block
// as one cluster along z (2): the grids below are the launcher's for that kernel.
enum MmKernel { MM_TILE, MM_HALF, MM_MR4, MM_MR8, MM_MR16 };
static const char* const MM_NAMES[] = {"tile128", "tile64 ", "mr4    ", "mr8    ", "mr16   "};
template <typename T, typename O>
static void run_matmul(MmKernel kern, int variant, int split, const T* A, const T* B, const float* bias, O* C, float* P, int batch, int M, int N, int K) {
    const int kc = LS_KC > 0 ? LS_KC : K, chunks = (K + kc - 1) / kc;
    const unsigned z = (unsigned)(split ? batch * chunks : batch);
    auto go = [&](auto&& kernel_call, ls_dim3 grid, unsigned threads) { ls_launch(grid, threads, kernel_call); };
    switch (kern) {
    case MM_TILE:
        go([&] { ls_matmul_tile<T, O, LS_MM_BM / 64>(A, B, bias, C, P, M, N, K, split); },
           {(unsigned)((N + LS_MM_BN - 1) / LS_MM_BN), (unsigned)((M + LS_MM_BM - 1) / LS_MM_BM), z}, LS_MM_THREADS);
        break;
    case MM_HALF:
        go([&] { ls_matmul_tile<T, O, LS_MM_BM_HALF / 64>(A, B, bias, C, P, M, N, K, split); },
           {(unsigned)((N + LS_MM_BN - 1) / LS_MM_BN), (unsigned)((M + LS_MM_BM_HALF - 1) / LS_MM_BM_HALF), z}, LS_MM_THREADS);
        break;
    case MM_MR4:
    case MM_MR8:
    case MM_MR16: {
        // The three kernels of each MR (matmul.cu): plain (U = 16, 8 bytes of B per thread
        // and k row), lean (U = 8) and narrow (U = 16, 4 bytes).
        auto skinny = [&](auto u, auto lb) {
            constexpr int U = decltype(u)::value, LB = decltype(lb)::value;
            const unsigned cols = LS_MM_SK_THREADS * (LB / sizeof(T) > 0 ? LB / sizeof(T) : 1);
            const ls_dim3 grid{(unsigned)((N + cols - 1) / cols), 1, z};
            const unsigned cluster = split == 2 ? (unsigned)chunks : 1;
            auto sk = [&](auto mr) {
                constexpr int MR = decltype(mr)::value;
                ls_launch_ex(grid, LS_MM_SK_THREADS, (unsigned)sizeof(LsSkinnyEmuShared<T, MR, LB>), cluster,
                             [&] { ls_matmul_skinny<T, O, MR, U, LB>(A, B, bias, C, P, M, N, K, split); }, split == 2);
            };
            if (kern == MM_MR4) sk(std::integral_constant<int, 4>{});
            else if (kern == MM_MR8) sk(std::integral_constant<int, 8>{});
            else sk(std::integral_constant<int, 16>{});
        };
        using I = std::integral_constant<int, 16>;
        if (variant == 0) skinny(I{}, std::integral_constant<int, 8>{});
        else if (variant == 1) skinny(std::integral_constant<int, 8>{}, std::integral_constant<int, 8>{});
        else skinny(I{}, std::integral_constant<int, 4>{});
        break;
    }
    }
    if (split == 1) {
        const long long total = (long long)batch * M * N;
        ls_launch({(unsigned)((total + 255) / 256), 1, 1}, 256, [&] { ls_matmul_combine<O>(P, bias, C, M, N, K, batch); });
    }
}

template <typename T, typename O> static void check_matmul(int batch, int M, int N, int K, bool with_bias, bool specials) {
    auto A = gen<T>((size_t)batch * M * K, 1.0f, specials);
    auto B = gen<T>((size_t)batch * K * N, 1.0f, specials);
    auto bias = gen<float>(N, 1.0f);
    const float* bp = with_bias ? bias.data() : nullptr;
    auto want = naive_matmul<T, O>(A, B, bp, batch, M, N, K);
    const int kc = LS_KC > 0 ? LS_KC : K, chunks = (K + kc - 1) / kc;
    char name[200];
    for (MmKernel kern : {MM_TILE, MM_HALF, MM_MR4, MM_MR8, MM_MR16}) {
        if ((kern == MM_MR4 && M > 4) || (kern == MM_MR8 && M > 8) || (kern == MM_MR16 && M > 16)) continue;
        const bool skinny = kern == MM_MR4 || kern == MM_MR8 || kern == MM_MR16;
        // Skinny variants: plain, lean and narrow.
        for (int variant = 0; variant < (skinny ? 3 : 1); ++variant)
            for (int split = 0; split < 3; ++split) {
                if (split && chunks < 2) continue;
                if (split == 2 && (!skinny || chunks > LS_MM_CLUSTER_MAX)) continue;
                std::vector<float> P(split == 1 ? (size_t)batch * chunks * M * N : 1);
                std::vector<O> C((size_t)batch * M * N);
                run_matmul<T, O>(kern, variant, split, A.data(), B.data(), bp, C.data(), P.data(), batch, M, N, K);
                static const char* const how[] = {"whole", "split", "cluster"};
                std::snprintf(name, sizeof name, "matmul %s v%d %s b%d m%d n%d k%d bias%d sp%d (%zu->%zu B)", MM_NAMES[kern], variant, how[split], batch, M, N,
                              K, with_bias, specials, sizeof(T), sizeof(O));
                expect_equal(name, want, C);
            }
    }
}

// ---- the lane tree: docs/spec/reduce.md ----
template <typename Op> static float naive_lanes(const std::vector<float>& x) {
    std::vector<float> lane(LS_LANES, Op::identity());
    for (size_t i = 0; i < x.size(); ++i) lane[i % LS_LANES] = Op::fold(lane[i % LS_LANES], x[i]);
    for (int s = LS_LANES / 2; s >= 1; s /= 2)
        for (int l = 0; l < s; ++l) lane[l] = Op::combine(lane[l], lane[l + s]);
    return lane[0];
}

// A launch of the row engine (reduce.cuh): `parts` CTAs per row (1, or a cluster of
// LS_ROW_CLUSTER or LS_ROW_CLUSTER_LARGE: the size is given at launch, ops/rowplan.rs), with or without the
// slice cache, inputs and outputs `shift` elements past a 16-byte boundary (so rows are misaligned for vector loads).
struct RowLaunch {
    unsigned parts;
    bool cached;
    int shift;
    bool warps = false;  // the warp engine (reduce.cuh): parts and cached do not apply
    bool regs = false;   // the register engine (reduce.cuh LsRegRow): likewise
    bool staged = false;  // cached, with the staging buffer behind the cache (softmax's plans)
};
static std::string plan_name(const RowLaunch& p) {
    if (p.regs) return std::string(" [register engine") + (p.shift ? ", shift " + std::to_string(p.shift) : "") + "]";
    if (p.warps) return " [warp engine, " + std::to_string(LS_WARP_R) + " warps/row" + (p.shift ? ", shift " + std::to_string(p.shift) : "") + "]";
    return " [" + std::to_string(p.parts) + (p.parts > 1 ? " CTAs/row" : " CTA/row") + (p.cached ? (p.staged ? ", cached, staged" : ", cached") : ", uncached") +
           (p.shift ? ", shift " + std::to_string(p.shift) : "") + "]";
}
// A launch of the warp engine: its buffers `elem_bytes` bytes per element; two persistent
// CTAs, so that one CTA serves several rows (and prefetches) when there are more than two.
static void run_warps(int rows, int H, int elem_bytes, const std::function<void()>& k) {
    ls_launch_ex({(unsigned)std::min(rows, 2), 1, 1}, LS_WARP_THREADS, (unsigned)ls_warp_smem_bytes(H, elem_bytes), 1, k);
}
// Whether a row of width H fits the half-size register-engine kernels (ops/rowplan.rs `regs_kernel`).
static bool regs_half(int H) { return (H + LS_LANES - 1) / LS_LANES * (LS_LANES / (4 * LS_ROW_THREADS)) <= LS_ROW_REG_QUADS / 2; }
template <typename T> static void run_rows(int rows, int H, const RowLaunch& p, const std::function<void()>& k) {
    const int lc = LS_LANES / (int)p.parts;
    const unsigned long long smem = !p.cached  ? ls_row_head_bytes()
                                    : p.staged ? ls_row_stage_offset(H, lc, sizeof(T)) + LS_ROW_STAGE_BYTES
                                               : ls_row_head_bytes() + ls_row_cache_bytes(H, lc, sizeof(T));
    ls_launch_ex({(unsigned)rows * p.parts, 1, 1}, LS_ROW_THREADS, (unsigned)smem, p.parts, k);
}
// Copies v into a buffer `shift` elements past its (16-byte aligned) start; data() + shift is the view.
template <typename T> static std::vector<T> shifted(const std::vector<T>& v, int shift) {
    std::vector<T> b(v.size() + 8);
    std::copy(v.begin(), v.end(), b.begin() + shift);
    return b;
}
template <typename T> static std::vector<T> unshift(const std::vector<T>& b, size_t n, int shift) { return std::vector<T>(b.begin() + shift, b.begin() + shift + n); }

template <typename T, typename O> static void check_rows(int rows, int H, bool specials, const RowLaunch& p) {
    auto x = gen<T>((size_t)rows * H, 1.0f, specials);
    auto r = gen<T>((size_t)rows * H, 1.0f, specials);
    auto w = gen<T>(H, 2.0f);
    const float eps = 1e-5f;
    const int sh = p.shift;
    auto xs = shifted(x, sh), rs = shifted(r, sh), ws = shifted(w, sh);
    char name[160];
    // rmsnorm, with residual and plain.
    for (int with_res = 0; with_res < 2 && !p.staged; ++with_res) {  // (no staged rmsnorm)
        std::vector<O> want_y((size_t)rows * H);
        std::vector<T> want_h(want_y.size());
        for (int i = 0; i < rows; ++i) {
            std::vector<float> hv(H);
            for (int j = 0; j < H; ++j) {
                const size_t e = (size_t)i * H + j;
                want_h[e] = with_res ? ls_from_f32<T>(ls_to_f32(x[e]) + ls_to_f32(r[e])) : x[e];
                hv[j] = ls_to_f32(want_h[e]);
            }
            const float rsq = ls_rsqrt(naive_lanes<LsSumSq>(hv) / (float)H + eps);
            for (int j = 0; j < H; ++j) want_y[(size_t)i * H + j] = ls_from_f32<O>((hv[j] * rsq) * ls_to_f32(w[j]));
        }
        std::vector<O> ys(want_y.size() + 8);
        std::vector<T> hs(want_y.size() + 8);
        const T* rp = with_res ? rs.data() + sh : nullptr;
        T* hp = with_res ? hs.data() + sh : nullptr;
        if (p.regs)  // as the launcher: the half-size kernel where it holds the row
            ls_launch({(unsigned)rows, 1, 1}, LS_ROW_THREADS, [&] {
                if (regs_half(H)) ls_rmsnorm_regs<T, O, LS_ROW_REG_QUADS / 2>(xs.data() + sh, rp, ws.data() + sh, ys.data() + sh, hp, H, eps);
                else ls_rmsnorm_regs<T, O, LS_ROW_REG_QUADS>(xs.data() + sh, rp, ws.data() + sh, ys.data() + sh, hp, H, eps);
            });
        else if (p.warps)
            run_warps(rows, H, (with_res ? 4 : 2) * sizeof(T), [&] {
                // As the kernel of rmsnorm.cu: the bounds-free loops when L divides H.
                if (H % LS_LANES == 0) ls_rmsnorm_warp<T, O, true>(xs.data() + sh, rp, ws.data() + sh, ys.data() + sh, hp, rows, H, eps);
                else ls_rmsnorm_warp<T, O, false>(xs.data() + sh, rp, ws.data() + sh, ys.data() + sh, hp, rows, H, eps);
            });
        else run_rows<T>(rows, H, p, [&] { ls_rmsnorm<T, O>(xs.data() + sh, rp, ws.data() + sh, ys.data() + sh, hp, H, eps); });
        std::snprintf(name, sizeof name, "%s r%d h%d sp%d (%zu->%zu B)", with_res ? "rmsnorm_residual" : "rmsnorm", rows, H, specials, sizeof(T), sizeof(O));
        expect_equal(std::string(name) + " y" + plan_name(p), want_y, unshift(ys, want_y.size(), sh));
        if (with_res) expect_equal(std::string(name) + " h" + plan_name(p), want_h, unshift(hs, want_h.size(), sh));
    }
    // sum and mean (never cached).
    for (int divide = 0; divide < 2 && !p.cached && !p.warps && !p.regs; ++divide) {
        std::vector<O> s(rows), want(rows);
        for (int i = 0; i < rows; ++i) {
            std::vector<float> xv(H);
            for (int j = 0; j < H; ++j) xv[j] = ls_to_f32(x[(size_t)i * H + j]);
            const float t = naive_lanes<LsSum>(xv);
            want[i] = ls_from_f32<O>(divide ? t / (float)H : t);
        }
        run_rows<T>(rows, H, p, [&] { ls_mean<T, O>(xs.data() + sh, s.data(), H, divide); });
        std::snprintf(name, sizeof name, "%s r%d h%d sp%d (%zu->%zu B)", divide ? "mean" : "sum", rows, H, specials, sizeof(T), sizeof(O));
        expect_equal(name + plan_name(p), want, s);
    }
    // softmax and log_softmax.
    for (int lf = 0; lf < 2; ++lf) {
        std::vector<O> want((size_t)rows * H), outs(want.size() + 8);
        for (int i = 0; i < rows; ++i) {
            std::vector<float> xv(H), e(H);
            for (int j = 0; j < H; ++j) xv[j] = ls_to_f32(x[(size_t)i * H + j]);
            const float m = naive_lanes<LsMax>(xv);
            for (int j = 0; j < H; ++j) e[j] = ls_exp(xv[j] - m);
            const float s = naive_lanes<LsSum>(e);
            const float lg = ls_log(s);
            for (int j = 0; j < H; ++j) want[(size_t)i * H + j] = ls_from_f32<O>(lf ? (xv[j] - m) - lg : e[j] / s);
        }
        if (p.warps) break;  // softmax has no warp-engine kernel
        if (p.regs)  // as the launcher: the half-size kernel where it holds the row
            ls_launch({(unsigned)rows, 1, 1}, LS_ROW_THREADS, [&] {
                if (regs_half(H)) {
                    if (lf) ls_softmax_regs<T, O, true, LS_ROW_REG_QUADS / 2>(xs.data() + sh, outs.data() + sh, H);
                    else ls_softmax_regs<T, O, false, LS_ROW_REG_QUADS / 2>(xs.data() + sh, outs.data() + sh, H);
                } else {
                    if (lf) ls_softmax_regs<T, O, true, LS_ROW_REG_QUADS>(xs.data() + sh, outs.data() + sh, H);
                    else ls_softmax_regs<T, O, false, LS_ROW_REG_QUADS>(xs.data() + sh, outs.data() + sh, H);
                }
            });
        else
            run_rows<T>(rows, H, p, [&] {
                if (lf) ls_softmax<T, O, true>(xs.data() + sh, outs.data() + sh, H);
                else ls_softmax<T, O, false>(xs.data() + sh, outs.data() + sh, H);
            });
        std::snprintf(name, sizeof name, "%s r%d h%d sp%d (%zu->%zu B)", lf ? "log_softmax" : "softmax", rows, H, specials, sizeof(T), sizeof(O));
        expect_equal(name + plan_name(p), want, unshift(outs, want.size(), sh));
    }
}

// Every launch the plans of gpu/src/ops/rowplan.rs can make (and misaligned rows).
template <typename T, typename O> static void check_rows_all(int rows, int H, bool specials) {
    for (unsigned parts : {1u, (unsigned)LS_ROW_CLUSTER, (unsigned)LS_ROW_CLUSTER_LARGE}) {
        if (parts > LS_LANES) continue;
        for (int how : {0, 1, 2})  // uncached, cached, cached and staged
            for (int shift : {0, 1}) check_rows<T, O>(rows, H, specials, {parts, how > 0, shift, false, false, how == 2});
    }
    if (LS_LANES % 128 == 0)
        for (int shift : {0, 1}) check_rows<T, O>(rows, H, specials, {1, true, shift, true});
    // The register engine at every width it holds (ops/rowplan.rs `regs_kernel`).
    const int quad_lanes = 4 * LS_ROW_THREADS;
    if (LS_LANES % quad_lanes == 0 && (H + LS_LANES - 1) / LS_LANES * (LS_LANES / quad_lanes) <= LS_ROW_REG_QUADS)
        for (int shift : {0, 1}) check_rows<T, O>(rows, H, specials, {1, false, shift, false, true});
}

template <typename T, typename O> static void check_rope(int tokens, int heads, int d, int max_pos) {
    auto x = gen<T>((size_t)tokens * heads * d, 4.0f);
    auto cs = gen<float>((size_t)max_pos * d / 2, 1.0f), sn = gen<float>((size_t)max_pos * d / 2, 1.0f);
    std::vector<long long> pos(tokens);
    for (auto& p : pos) p = (long long)((uniform() + 1.0f) * 0.5f * max_pos) % max_pos;
    std::vector<O> y(x.size()), want(x.size());
    const int half = d / 2;
    for (int t = 0; t < tokens; ++t)
        for (int h = 0; h < heads; ++h)
            for (int i = 0; i < half; ++i) {
                const size_t b = ((size_t)t * heads + h) * d;
                const float c = cs[pos[t] * half + i], s = sn[pos[t] * half + i];
                const float a = ls_to_f32(x[b + i]), bb = ls_to_f32(x[b + i + half]);
                want[b + i] = ls_from_f32<O>(a * c - bb * s);
                want[b + i + half] = ls_from_f32<O>(bb * c + a * s);
            }
    const long long pairs = (long long)tokens * heads * half;
    ls_launch({(unsigned)((pairs + 255) / 256), 1, 1}, 256, [&] { ls_rope<T, O>(x.data(), pos.data(), cs.data(), sn.data(), y.data(), tokens, heads, d); });
    char name[160];
    std::snprintf(name, sizeof name, "rope t%d h%d d%d (%zu->%zu B)", tokens, heads, d, sizeof(T), sizeof(O));
    expect_equal(name, want, y);
}

// bf16 rounding of the prelude vs a plain statement of round-to-nearest-even.
static void check_bf16_rounding() {
    for (uint64_t u = 0; u <= 0xffffffffull; u += 0x7) {
        const float x = __uint_as_float((unsigned)u);
        const ls_bf16 got = ls_from_f32<ls_bf16>(x);
        if (std::isnan(x)) {
            if (!std::isnan(ls_to_f32(got))) { std::printf("FAIL bf16(NaN 0x%08x)\n", (unsigned)u); ++g_failures; return; }
            continue;
        }
        const unsigned lo = (unsigned)u & 0xffff0000u, hi = lo + 0x10000u;  // truncation and next
        const double dl = (double)__uint_as_float(lo), dh = std::isinf(__uint_as_float(lo)) ? dl : (double)__uint_as_float(hi);
        // The next value past the largest finite is inf: compare as if at 2^128.
        const double dh2 = ((lo & 0x7fffffffu) == 0x7f7f0000u) ? std::copysign(std::ldexp(1.0, 128), dl) : dh;
        const double dx = (double)x, el = std::fabs(dx - dl), eh = std::fabs(dh2 - dx);
        const unsigned want = (std::isinf(x) || el < eh || (el == eh && ((lo >> 16) & 1) == 0)) ? lo : hi;
        if (got.bits != (want >> 16)) { std::printf("FAIL bf16(0x%08x): want 0x%04x got 0x%04x\n", (unsigned)u, want >> 16, got.bits); ++g_failures; return; }
    }
    ++g_checks;
    std::printf("ok   bf16 rounding (every 7th f32 pattern)\n");
}

// ---- attention and KV append: cases and expected outputs written by the Rust reference
// (cargo run -p lockstep-gpu --example attn_cases), so the kernels are compared with the
// definition itself. The grid and the append's writer pairs are the launcher's
// (gpu/src/ops/attention.rs; the pairs come from its `append_pairs`). ----
template <typename T> static T from_bits(uint32_t b) {
    if constexpr (sizeof(T) == 4) {
        return __uint_as_float(b);
    } else {
        T t;
        t.bits = (unsigned short)b;
        return t;
    }
}
template <typename T> static std::vector<T> read_vec(std::istream& in) {
    size_t n = 0;
    in >> n;
    std::vector<T> v(n);
    for (auto& x : v) {
        uint64_t b;
        in >> b;
        x = from_bits<T>((uint32_t)b);
    }
    return v;
}
static std::vector<long long> read_ints(std::istream& in) {
    size_t n = 0;
    in >> n;
    std::vector<long long> v(n);
    for (auto& x : v) in >> x;
    return v;
}

template <typename T> static void run_attn_case(std::istream& in, const std::string& name) {
    long long n, hq, hkv, d, window, paged, page, max_blocks;
    uint32_t scale_bits;
    in >> n >> hq >> hkv >> d >> window >> scale_bits >> paged >> page >> max_blocks;
    auto q = read_vec<T>(in), k = read_vec<T>(in), v = read_vec<T>(in);
    auto rows = read_ints(in), map = read_ints(in);
    auto want32 = read_vec<float>(in);
    auto want16 = read_vec<ls_bf16>(in);
    long long gh, nhc, qsp, grid_x, grid_y, smem;
    in >> gh >> nhc >> qsp >> grid_x >> grid_y >> smem;
    auto tiles = read_ints(in);
    long long wgh, wnhc, wgrid_x, wgrid_y, wsmem;
    in >> wgh >> wnhc >> wgrid_x >> wgrid_y >> wsmem;
    auto wtiles = read_ints(in);
    const float scale = __uint_as_float(scale_bits);
    int nsplit = 1;
    for (long long r = 0; r < n; ++r) {
        const long long pos = rows[2 * r + 1], first = ls_attn_first(pos, window);
        nsplit = std::max(nsplit, (int)(pos / LS_ATTN_SPLIT - first / LS_ATTN_SPLIT + 1));
    }
    std::vector<float> st((size_t)(n * hq * nsplit * (d + 2)));
    const long long* base = paged ? nullptr : map.data();
    const long long* table = paged ? map.data() : nullptr;
    ls_launch({(unsigned)(n * hq), (unsigned)nsplit, 1}, LS_ATTN_THREADS, [&] {
        ls_attn_split<T>(q.data(), k.data(), v.data(), rows.data(), base, table, page, max_blocks, (int)hq, (int)hkv, (int)d, scale, window, st.data(),
                         nsplit);
    });
    const long long total = n * hq * d;
    std::vector<float> y32(total);
    std::vector<ls_bf16> y16(total);
    const unsigned blocks = (unsigned)((total + 255) / 256);
    // The merge of the split states a kernel left in st, in both output types, against the
    // Rust reference's outputs.
    auto merge_and_check = [&](const std::string& what) {
        ls_launch({blocks, 1, 1}, 256, [&] { ls_attn_merge<float>(st.data(), rows.data(), y32.data(), n, (int)hq, (int)d, window, nsplit); });
        ls_launch({blocks, 1, 1}, 256, [&] { ls_attn_merge<ls_bf16>(st.data(), rows.data(), y16.data(), n, (int)hq, (int)d, window, nsplit); });
        expect_equal(what + " (f32 out)", want32, y32);
        expect_equal(what + " (bf16 out)", want16, y16);
    };
    merge_and_check("attention " + name + " attn_split");
    // attn_warp where the launcher would pick it (ops/attention.rs `warp_plan`).
    if (wgh > 0) {
        if (wsmem != ls_attn_warp_smem((int)d, (int)wgh, (int)sizeof(T))) {
            std::printf("FAIL attention %s: launcher warp smem %lld, kernel layout %lld\n", name.c_str(), wsmem,
                        ls_attn_warp_smem((int)d, (int)wgh, (int)sizeof(T)));
            ++g_failures;
            return;
        }
        // Every run length of splits per CTA up to 3 (the launcher's `spread` picks one by
        // the device's size): the same states whichever CTA computes a split.
        for (int spc = 1; spc <= 3 && (spc == 1 || spc <= wgrid_y); ++spc) {
            std::fill(st.begin(), st.end(), __uint_as_float(0x7fc00001u));
            const unsigned gy = (unsigned)((wgrid_y + spc - 1) / spc);
            ls_launch_ex({(unsigned)wgrid_x, gy, 1}, 32 * LS_ATTN_WARPS_PER_HEAD * (unsigned)wgh, (unsigned)wsmem, 1, [&] {
                ls_attn_warp_any<T>(q.data(), k.data(), v.data(), wtiles.data(), rows.data(), base, table, page, max_blocks, (int)hq, (int)hkv,
                                    (int)d, scale, window, st.data(), nsplit, (int)wgh, (int)wnhc, spc);
            });
            char wwhat[200];
            std::snprintf(wwhat, sizeof wwhat, "attention %s attn_warp gh%lld nhc%lld grid %lldx%u spc %d", name.c_str(), wgh, wnhc, wgrid_x, gy, spc);
            merge_and_check(wwhat);
        }
    }
    if (qsp == 0) {
        std::printf("     attention %s: no attn_tile plan (attn_split only)\n", name.c_str());
        return;
    }
    // attn_tile with the launcher's plan; the scratch starts as NaN so that a state the
    // merge reads but no CTA wrote fails the comparison.
    if (smem != ls_attn_tile_smem((int)d, (int)qsp)) {
        std::printf("FAIL attention %s: launcher smem %lld, kernel layout %lld\n", name.c_str(), smem, ls_attn_tile_smem((int)d, (int)qsp));
        ++g_failures;
        return;
    }
    std::fill(st.begin(), st.end(), __uint_as_float(0x7fc00001u));
    ls_launch_ex({(unsigned)grid_x, (unsigned)grid_y, 1}, LS_ATTN_THREADS, (unsigned)smem, 1, [&] {
        ls_attn_tile<T>(q.data(), k.data(), v.data(), tiles.data(), rows.data(), base, table, page, max_blocks, (int)hq, (int)hkv, (int)d, scale, window,
                        st.data(), nsplit, (int)gh, (int)nhc, (int)qsp);
    });
    char what[200];
    std::snprintf(what, sizeof what, "attention %s attn_tile gh%lld nhc%lld qsp%lld grid %lldx%lld", name.c_str(), gh, nhc, qsp, grid_x, grid_y);
    merge_and_check(what);
    // attn_tile_few where the launcher would pick it (ops/attention.rs `TilePlan::few`).
    const long long ng = d < LS_ATTN_THREADS ? LS_ATTN_THREADS / d : 1, nd = d > LS_ATTN_THREADS ? 2 : 1;
    if (qsp / ng * nd <= LS_ATTN_FEW_SLOTS) {
        std::fill(st.begin(), st.end(), __uint_as_float(0x7fc00001u));
        ls_launch_ex({(unsigned)grid_x, (unsigned)grid_y, 1}, LS_ATTN_THREADS, (unsigned)smem, 1, [&] {
            ls_attn_tile<T, LS_ATTN_FEW_SLOTS>(q.data(), k.data(), v.data(), tiles.data(), rows.data(), base, table, page, max_blocks, (int)hq, (int)hkv,
                                               (int)d, scale, window, st.data(), nsplit, (int)gh, (int)nhc, (int)qsp);
        });
        merge_and_check(std::string(what) + " few");
    }
}

template <typename T> static void run_append_case(std::istream& in, const std::string& name) {
    long long width;
    in >> width;
    auto kn = read_vec<T>(in), vn = read_vec<T>(in), k = read_vec<T>(in), v = read_vec<T>(in);
    auto pairs = read_ints(in);
    auto kw = read_vec<T>(in), vw = read_vec<T>(in);
    const long long np = (long long)pairs.size() / 2, total = np * width;
    ls_launch({(unsigned)((total + 255) / 256), 1, 1}, 256, [&] { ls_kv_append<T>(kn.data(), vn.data(), k.data(), v.data(), pairs.data(), np, width); });
    expect_equal("kv_append " + name + " K (vs Rust reference)", kw, k);
    expect_equal("kv_append " + name + " V (vs Rust reference)", vw, v);
}

template <typename T> static void run_sample_case(std::istream& in, const std::string& name) {
    long long b, V;
    in >> b >> V;
    auto x = read_vec<T>(in);
    auto fp = read_vec<float>(in);
    auto ipi = read_ints(in), hoff = read_ints(in), hist = read_ints(in), want = read_ints(in);
    std::vector<unsigned long long> ip(ipi.begin(), ipi.end());
    std::vector<float> z((size_t)(b * V));
    std::vector<int> ord((size_t)(b * V));
    std::vector<long long> got((size_t)b, -7);
    ls_launch({(unsigned)b, 1, 1}, LS_ROW_THREADS,
              [&] { ls_sample<T>(x.data(), fp.data(), ip.data(), hoff.data(), hist.data(), z.data(), ord.data(), got.data(), V); });
    ++g_checks;
    for (long long i = 0; i < b; ++i)
        if (got[i] != want[i]) {
            std::printf("FAIL sample %s: row %lld: want %lld got %lld\n", name.c_str(), i, want[i], got[i]);
            ++g_failures;
            return;
        }
    std::printf("ok   sample %s (vs Rust reference) (%lld rows)\n", name.c_str(), b);
}

static void check_attention_cases(const char* path) {
    std::ifstream in(path);
    if (!in) {
        std::printf("FAIL cannot read attention cases %s\n", path);
        ++g_failures;
        return;
    }
    int cases = 0;
    for (std::string kw; in >> kw && kw != "END";) {
        std::string name;
        int size;
        in >> name >> size;
        if (kw == "ATTN") size == 4 ? run_attn_case<float>(in, name) : run_attn_case<ls_bf16>(in, name);
        else if (kw == "APPEND") size == 4 ? run_append_case<float>(in, name) : run_append_case<ls_bf16>(in, name);
        else if (kw == "SAMPLE") size == 4 ? run_sample_case<float>(in, name) : run_sample_case<ls_bf16>(in, name);
        else {
            std::printf("FAIL attention cases: unknown record %s\n", kw.c_str());
            ++g_failures;
            return;
        }
        ++cases;
    }
    if (cases == 0) {
        std::printf("FAIL attention cases: none read from %s\n", path);
        ++g_failures;
    }
}

// softmax.cu's `ls_div` (the quotient by a row's shared divisor through its reciprocal and one
// correction) against IEEE division: every one of the 2^23 significands of v against divisors
// whose significands are the worst cases (all ones, and just above 1) and random ones (the
// fast path's result depends on the significands only: in its range every exponent shift is
// exact), then v and s across the whole range and the special values (the fallback's edges);
// the register kernel's split form (`ls_div_fits`, `ls_div_fast`) alike.
static void check_ls_div() {
    ++g_checks;
    long bad = 0, n = 0;
    auto one = [&](float v, float s) {
        const LsDivisor d = ls_divisor(s);
        const float want = v / s, got = ls_div(v, d);
        // The register kernel's form: ls_div_fast wherever d.fast and ls_div_fits say so.
        const float reg = d.fast && ls_div_fits(v) ? ls_div_fast(v, d) : got;
        ++n;
        if (!same(want, got) && bad++ < 5) std::printf("FAIL ls_div: %a / %a: want %a got %a\n", v, s, want, got);
        if (!same(want, reg) && bad++ < 5) std::printf("FAIL ls_div_fits/fast: %a / %a: want %a got %a\n", v, s, want, reg);
    };
    std::vector<uint32_t> sig;
    for (uint32_t k = 0; k < 12; ++k) sig.push_back(0x7fffffu - k), sig.push_back(k);
    for (int k = 0; k < 24; ++k) sig.push_back(__float_as_uint(uniform() + 2.0f) & 0x7fffffu);
    for (uint32_t sm : sig)
        for (uint32_t vm = 0; vm < 0x800000u; ++vm) one(__uint_as_float(0x3f800000u | vm), __uint_as_float(0x3f800000u | sm));
    const unsigned sp[] = {0x0u, 0x80000000u, 0x1u, 0x7fffffu, 0x800000u, 0x1f7fffffu, 0x1f800000u, 0x5f800000u, 0x5f800001u,
                           0x7f7fffffu, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x3f800000u, 0xbf800000u, 0x3f7fffffu, 0x4f7fffffu, 0x4f800000u};
    for (unsigned a : sp)
        for (unsigned b : sp) one(__uint_as_float(a), __uint_as_float(b));
    for (int ev = -160; ev <= 130; ++ev)
        for (int es = -2; es <= 40; ++es)
            for (int k = 0; k < 8; ++k) {
                const float v = std::ldexp(uniform() + 2.0f, ev), s = std::ldexp(uniform() + 2.0f, es);
                one(v, s);
                one(-v, s);
            }
    if (bad) ++g_failures;
    else std::printf("ok   ls_div (%ld quotients)\n", n);
}

int main(int argc, char** argv) {
    std::printf("contract %s: KC = %d, L = %d, BN = %d, S = %d\n", LS_CONTRACT, LS_KC, LS_LANES, LS_ATTN_BLOCK, LS_ATTN_SPLIT);
    check_bf16_rounding();
    const int kc = LS_KC > 0 ? LS_KC : 300;
    // LS_EMU_ROWS_ONLY=1: only the row ops (a quick check of the row engines).
    const bool rows_only = std::getenv("LS_EMU_ROWS_ONLY") != nullptr;
    // LS_EMU_ATTN_ONLY=1: only attention, KV append and sampling (the cases file).
    const bool attn_only = std::getenv("LS_EMU_ATTN_ONLY") != nullptr;
    if (attn_only) {
        if (argc > 1) check_attention_cases(argv[1]);
        std::printf("%d checks, %d failed (attention cases only)\n", g_checks, g_failures);
        return g_failures || g_checks == 0 ? 1 : 0;
    }
    // LS_EMU_MATMUL_ONLY=1: only the matmul family (a quick check of its kernels).
    const bool matmul_only = std::getenv("LS_EMU_MATMUL_ONLY") != nullptr;
    if (!rows_only) {
    // Every path: M at and around the skinny limits (4, 16) and past a 64-row tile, K at the
    // chunk edges and past a stage, N off the tile and vector widths, bias on/off, batch 2.
    for (int K : {1, 15, kc - 1, kc, kc + 1, 2 * kc + 88}) check_matmul<float, float>(1, 3, 70, K, true, false);
    for (int M : {1, 3, 7, 8, 16, 17, 130}) check_matmul<float, float>(2, M, 129, kc + 1, M % 2 == 1, false);
    check_matmul<float, float>(1, 16, 132, 2 * kc + 88, false, true);
    check_matmul<float, float>(1, 70, 65, 2 * kc + 1, false, true);
    check_matmul<float, ls_bf16>(1, 130, 33, kc + 7, true, false);
    check_matmul<ls_bf16, ls_bf16>(2, 9, 10, kc + 1, false, false);
    check_matmul<ls_bf16, ls_bf16>(2, 16, 516, kc, true, true);
    check_matmul<ls_bf16, ls_bf16>(1, 8, 516, 2 * kc + 88, true, false);
    check_matmul<ls_bf16, float>(1, 1, 129, 3 * kc, false, true);
    check_matmul<ls_bf16, float>(2, 130, 260, 2 * kc + 88, true, false);
    check_matmul<ls_f16, ls_f16>(2, 17, 5, 40, true, false);
    check_matmul<ls_f16, float>(1, 4, 1030, kc - 1, true, true);
    check_matmul<ls_bf16, ls_bf16>(2, 5, 300, LS_MM_CLUSTER_MAX * kc, true, false);  // the largest cluster
    }
    if (matmul_only) {
        std::printf("%d checks, %d failed (matmul only)\n", g_checks, g_failures);
        return g_failures || g_checks == 0 ? 1 : 0;
    }
    check_ls_div();
    for (int H : {1, 3, 7, 1023, 1024, 1025}) check_rows_all<float, float>(2, H, true);
    for (int H : {3000, 4099}) check_rows_all<float, float>(2, H, false);
    check_rows_all<ls_bf16, float>(2, 8191, true);  // the register engine's last quads
    check_rows_all<float, float>(2, 4099, true);
    check_rows_all<ls_bf16, float>(3, 1500, true);
    check_rows_all<float, ls_bf16>(2, 2049, true);
    check_rows_all<ls_f16, ls_f16>(2, 777, false);
    check_rows_all<ls_bf16, ls_bf16>(3, 1027, true);
    check_rows_all<float, float>(2, 151936, false);
    check_rows_all<ls_bf16, ls_bf16>(1, 151936, true);
    if (rows_only) {
        std::printf("%d checks, %d failed (row ops only)\n", g_checks, g_failures);
        return g_failures ? 1 : 0;
    }
    check_rope<float, float>(5, 2, 64, 100);
    check_rope<ls_bf16, ls_bf16>(3, 4, 128, 50);
    if (argc > 1) check_attention_cases(argv[1]);
    else {
        std::printf("FAIL no attention cases file given (scripts/gpu-emulate passes one)\n");
        ++g_failures;
    }
    std::printf("%d checks, %d failed\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
