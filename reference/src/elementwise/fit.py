#!/usr/bin/env python3
"""Provenance of the polynomial coefficients in elementwise/mod.rs (docs/spec/elementwise.md).

Run once by hand (numpy + mpmath); the printed f32 constants are pasted into the Rust code,
the CUDA header and the spec. Nothing calls this at build or run time.

Method: near-minimax fit of the *relative* error by Lawson's iteratively reweighted least
squares on a dense grid (mpmath for the target function values), then each coefficient is
rounded to the nearest f32, highest degree first, refitting the remaining lower-degree
coefficients after each rounding so they absorb the rounding error.
"""
import numpy as np
import mpmath as mp
import struct

mp.mp.prec = 113


def f32(v):
    return struct.unpack('<f', struct.pack('<f', float(v)))[0]


def hexf(v):
    return '0x%08X' % struct.unpack('<I', struct.pack('<f', float(v)))[0]


def lawson(xs, target, basis, weight, iters=60):
    """min over c of max_i |weight_i * (target_i - sum_j c_j basis_j(x_i))|."""
    A = np.stack([b(xs) for b in basis], axis=1) * weight[:, None]
    y = target * weight
    w = np.ones_like(xs) / len(xs)
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
        e = np.abs(A @ c - y)
        w = w * e
        w /= w.sum()
    return c, np.max(np.abs(A @ c - y))


def fit_rounded(xs, target, powers, weight, fixed_part):
    """target(x) ~ fixed_part(x) + sum c_j x^powers[j]; returns f32-rounded coefficients."""
    coeffs = {}
    free = list(powers)
    resid = target - fixed_part
    while free:
        basis = [(lambda p: (lambda x: x ** p))(p) for p in free]
        c, err = lawson(xs, resid, basis, weight)
        # round the highest-degree free coefficient, keep the rest free
        p = free[-1]
        coeffs[p] = f32(c[-1])
        resid = resid - coeffs[p] * xs ** p
        free = free[:-1]
    total = fixed_part + sum(coeffs[p] * xs ** p for p in powers)
    return [coeffs[p] for p in powers], np.max(np.abs((target - total) * weight))


def show(name, powers, cs, err):
    print(f'{name}: max weighted error after f32 rounding = {err:.3e} (2^{np.log2(err):.2f})')
    for p, c in zip(powers, cs):
        print(f'  c{p} = {hexf(c)}  {c!r:>24}  ({float(c).hex()})')


N = 20001

# exp: e^r = 1 + r + sum_{j=2..6} c_j r^j on |r| <= ln2/2 (+ slack for the rounding of x*log2e).
R = 0.3466 + 2e-4
xs = np.linspace(-R, R, N)
tgt = np.array([float(mp.exp(mp.mpf(x))) for x in xs])
powers = [2, 3, 4, 5, 6]
cs, err = fit_rounded(xs, tgt, powers, 1 / tgt, 1 + xs)
show('exp', powers, cs, err)

# log: log1p(f) = f - f^2/2 + sum_{j=3..10} c_j f^j on f in [2/3 - 1, 4/3 - 1].
lo, hi = f32(2 / 3) - 1, 2 * f32(2 / 3) - 1
xs = np.linspace(lo, hi, N)
xs = xs[np.abs(xs) > 1e-6]
tgt = np.array([float(mp.log1p(mp.mpf(x))) for x in xs])
for deg in (9, 10):
    powers = list(range(3, deg + 1))
    cs, err = fit_rounded(xs, tgt, powers, 1 / np.abs(tgt), xs - 0.5 * xs ** 2)
    show(f'log deg {deg}', powers, cs, err)

# tanh: tanh(a) = a + sum_{j} c_j a^(2j+1) on a in [0, B].
for B in (0.55, 0.625):
    xs = np.linspace(1e-4, B, N)
    tgt = np.array([float(mp.tanh(mp.mpf(x))) for x in xs])
    for nterms in (5, 6):
        powers = [2 * j + 1 for j in range(1, nterms + 1)]
        cs, err = fit_rounded(xs, tgt, powers, 1 / tgt, xs)
        show(f'tanh B={B} terms {nterms}', powers, cs, err)
