// tc_model.h: a C++ model of one H100 tensor-core step and of the mma-sm90 chain, for the
// harness (tc_harness.cu). It follows the rule measured in shared/data/h100-tensor-core/README.md;
// the normative CPU model is reference/src/matmul/tensor_core.rs.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

static inline float f32_of_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline uint32_t bits_of_f32(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

// cls: 0 zero, 1 finite nonzero, 2 inf, 3 nan. value = (-1)^neg * sig * 2^e; top = unbiased exponent
// (subnormals: the minimum normal exponent).
struct Dec {
  int cls, neg, e, top;
  uint64_t sig;
};
static Dec dec16(uint16_t x, bool bf16) {
  Dec d;
  d.neg = x >> 15;
  int exp, man, emax, bias, mbits;
  if (bf16) {
    exp = (x >> 7) & 0xff, man = x & 0x7f, emax = 255, bias = 127, mbits = 7;
  } else {
    exp = (x >> 10) & 0x1f, man = x & 0x3ff, emax = 31, bias = 15, mbits = 10;
  }
  if (exp == emax) {
    d.cls = man ? 3 : 2;
    d.sig = 0, d.e = 0, d.top = 0;
    return d;
  }
  if (exp == 0) {
    d.sig = man, d.e = 1 - bias - mbits, d.top = 1 - bias;
  } else {
    d.sig = (uint64_t)(man | (1 << mbits)), d.e = exp - bias - mbits, d.top = exp - bias;
  }
  d.cls = d.sig ? 1 : 0;
  return d;
}
static Dec dec32(uint32_t x) {
  Dec d;
  d.neg = x >> 31;
  int exp = (x >> 23) & 0xff;
  uint32_t man = x & 0x7fffff;
  if (exp == 255) {
    d.cls = man ? 3 : 2;
    d.sig = 0, d.e = 0, d.top = 0;
    return d;
  }
  if (exp == 0) {
    d.sig = man, d.e = -149, d.top = -126;
  } else {
    d.sig = man | 0x800000u, d.e = exp - 150, d.top = exp - 127;
  }
  d.cls = d.sig ? 1 : 0;
  return d;
}

// D = sum_k a[k] b[k] + c under the measured sm_90 rule (README of h100-tensor-core).
static float model_step(float c, const uint16_t* a, const uint16_t* b, int n, bool bf16) {
  Dec dc = dec32(bits_of_f32(c));
  Dec da[16], db[16];
  bool nan = dc.cls == 3, pinf = dc.cls == 2 && !dc.neg, ninf = dc.cls == 2 && dc.neg;
  for (int k = 0; k < n; ++k) {
    da[k] = dec16(a[k], bf16);
    db[k] = dec16(b[k], bf16);
    if (da[k].cls == 3 || db[k].cls == 3) nan = true;
  }
  for (int k = 0; k < n; ++k) {
    bool ia = da[k].cls == 2, ib = db[k].cls == 2;
    if (!(ia || ib)) continue;
    if (da[k].cls == 0 || db[k].cls == 0) {
      nan = true;
      continue;
    }
    if (da[k].cls == 3 || db[k].cls == 3) continue;
    if (da[k].neg ^ db[k].neg)
      ninf = true;
    else
      pinf = true;
  }
  if (nan || (pinf && ninf)) return f32_of_bits(0x7FFFFFFFu);
  if (pinf) return f32_of_bits(0x7F800000u);
  if (ninf) return f32_of_bits(0xFF800000u);
  // Finite: exact terms sig * 2^e, nominal tops.
  struct T {
    int neg, e, top;
    uint64_t sig;
  } t[17];
  int nt = 0;
  for (int k = 0; k < n; ++k) {
    if (da[k].cls == 0 || db[k].cls == 0) continue;
    t[nt++] = {da[k].neg ^ db[k].neg, da[k].e + db[k].e, da[k].top + db[k].top + 1, da[k].sig * db[k].sig};
  }
  if (dc.cls == 1) t[nt++] = {dc.neg, dc.e, dc.top + 1, dc.sig};
  if (nt == 0) return 0.0f;  // exact zero: +0
  int tmax = -100000;
  for (int i = 0; i < nt; ++i) tmax = std::max(tmax, t[i].top);
  // Every term truncated to a multiple of 2^u, u = max(T / 2^26, 2^-158) (the floor was
  // measured by the `tiny` capture of branch tc: reference/src/matmul/tensor_core.rs).
  const int u = std::max(tmax - 26, -158);
  int64_t s = 0;
  for (int i = 0; i < nt; ++i) {
    int sh = t[i].e - u;
    uint64_t units;
    if (sh >= 0)
      units = t[i].sig << sh;
    else if (sh <= -63)
      units = 0;
    else
      units = t[i].sig >> (-sh);
    s += t[i].neg ? -(int64_t)units : (int64_t)units;
  }
  if (s == 0) return 0.0f;
  const int neg = s < 0;
  uint64_t mag = neg ? (uint64_t)(-s) : (uint64_t)s;
  const int p = 63 - __builtin_clzll(mag);
  const int msb = p + u;
  const int lsb = std::max(msb - 23, -149);
  if (lsb > u) {
    int sh = lsb - u;
    mag = sh >= 64 ? 0 : (mag >> sh) << sh;
  }
  if (mag == 0) return 0.0f;  // a nonzero sum truncated to zero is +0 too (measured)
  if (msb >= 128) return neg ? -INFINITY : INFINITY;
  double v = ldexp((double)mag, u);
  return (float)(neg ? -v : v);
}

// The whole contract for one output element on the CPU.
static float model_dot(const uint16_t* a, const uint16_t* w, int K, bool bf16) {
  float acc = 0.0f;
  uint16_t ta[16], tb[16];
  for (int k0 = 0; k0 < K; k0 += 16) {
    int n = std::min(16, K - k0);
    for (int i = 0; i < 16; ++i) ta[i] = tb[i] = 0;
    for (int i = 0; i < n; ++i) ta[i] = a[k0 + i], tb[i] = w[k0 + i];
    acc = model_step(acc, ta, tb, 16, bf16);
  }
  return acc;
}

