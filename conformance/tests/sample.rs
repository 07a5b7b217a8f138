//! Sampling (docs/spec/sampling.md): Philox4x32-10 is the standard generator; a request's
//! token is a pure function of (logits, parameters, seed, position), the same alone and in
//! any batch; the masks follow their stated tie rules; and the sampler draws from the
//! distribution it claims (chi-square over many seeds, threshold stated below).

use half::bf16;
use lockstep_reference::philox::{philox4x32_10, uniform_open, word};
use lockstep_reference::sample::{gumbel, sample, sample_fast, SampleParams};
use lockstep_reference::{Element, Error, FMA_V1};
use ndarray::Array2;

const C: &lockstep_reference::Contract = &FMA_V1;

/// Critical value of the chi-square distribution at significance 0.001: `(degrees of
/// freedom, value)`, computed from the regularized incomplete gamma function (they match the
/// standard tables: 10.828, 13.816, 16.266, 18.467, 20.515, 24.322). The seeds are fixed, so each
/// test is deterministic; a correct sampler lands below the value with probability 0.999
/// for a fresh set of seeds, a wrong one (see the negative controls) lands far above.
const CHI2_999: [(usize, f64); 6] = [(1, 10.828), (2, 13.816), (3, 16.266), (4, 18.467), (5, 20.515), (7, 24.322)];

fn chi2_limit(df: usize) -> f64 {
    CHI2_999.iter().find(|(k, _)| *k == df).expect("df in table").1
}

/// SplitMix64 for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f(&mut self, a: f32) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn philox4x32_10_known_answers_from_random123() {
    // tests/kat_vectors of the Random123 distribution, lines "philox4x32 10 <ctr> <key> <out>".
    assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    assert_eq!(
        philox4x32_10([0xffffffff; 4], [0xffffffff; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
    // The stream layout: word i of (seed, position) is word i % 4 of block i / 4.
    let seed = 0xdead_beef_0123_4567u64;
    let blk = philox4x32_10([2, 0, 9, 0], [0x0123_4567, 0xdead_beef]);
    assert_eq!(word(seed, 9, 10), blk[2]);
    let blk = philox4x32_10([0, 0, 0x89ab_cdef, 0x0000_0001], [0x0123_4567, 0xdead_beef]);
    assert_eq!(word(seed, 0x1_89ab_cdef, 3), blk[3]);
}

#[test]
fn uniforms_are_inside_the_open_interval_and_uniform() {
    assert_eq!(uniform_open(0).to_bits(), 2f32.powi(-24).to_bits());
    assert_eq!(uniform_open(u32::MAX).to_bits(), (1.0f32 - 2f32.powi(-24)).to_bits());
    // 16 equal bins over 2^16 words: chi-square with 15 degrees of freedom; at 0.001 the
    // critical value is 37.697.
    let n = 1 << 16;
    let mut bins = [0usize; 16];
    for i in 0..n {
        bins[(uniform_open(word(42, 3, i)) * 16.0) as usize] += 1;
    }
    let e = n as f64 / 16.0;
    let chi2: f64 = bins.iter().map(|&o| (o as f64 - e).powi(2) / e).sum();
    assert!(chi2 < 37.697, "chi2 {chi2} over {bins:?}");
    // And the Gumbel noise is finite everywhere, including the extreme uniforms.
    for r in [0u32, 511, 512, u32::MAX - 511, u32::MAX] {
        let u = uniform_open(r);
        let g = -lockstep_reference::elementwise::log(-lockstep_reference::elementwise::log(u));
        assert!(g.is_finite(), "u = {u}");
    }
    assert!(gumbel(1, 2, 3).is_finite());
}

fn row(x: &[f32]) -> Array2<f32> {
    Array2::from_shape_vec((1, x.len()), x.to_vec()).unwrap()
}

fn one(x: &[f32], p: SampleParams) -> i64 {
    sample(C, row(x).view(), &[p]).unwrap()[0]
}

#[test]
fn greedy_ties_specials_and_repetition_penalty() {
    let g = SampleParams::greedy();
    assert_eq!(one(&[1.0, 3.0, 3.0, 2.0], g.clone()), 1, "lowest index wins ties");
    assert_eq!(one(&[f32::NAN, 0.5, f32::NAN], g.clone()), 1, "NaN is never chosen");
    assert_eq!(one(&[f32::NEG_INFINITY; 3], g.clone()), -1, "no candidate");
    assert_eq!(one(&[f32::NAN; 3], g.clone()), -1, "no candidate");
    assert_eq!(one(&[1.0, f32::INFINITY, f32::INFINITY], g.clone()), 1);
    // +inf while sampling: the lowest +inf index, whatever the seed.
    for seed in 0..20 {
        assert_eq!(
            one(&[1.0, 2.0, f32::INFINITY, 0.0, f32::INFINITY], SampleParams { seed, ..Default::default() }),
            2
        );
        assert_eq!(one(&[f32::NEG_INFINITY, f32::NAN], SampleParams { seed, ..Default::default() }), -1);
    }
    // Penalty divides positive logits and multiplies negative ones.
    let pen = |h: Vec<u32>, r: f32| SampleParams {
        repetition_penalty: r,
        history: h,
        ..SampleParams::greedy()
    };
    assert_eq!(one(&[2.0, -1.0, 1.9], pen(vec![], 1.1)), 0);
    assert_eq!(one(&[2.0, -1.0, 1.9], pen(vec![0], 1.1)), 2, "2 / 1.1 < 1.9");
    assert_eq!(one(&[-1.0, -1.05], pen(vec![0], 1.1)), 1, "-1 * 1.1 < -1.05");
    // Repeats count once: 2 / 1.5 = 1.33 > 1 (three applications would give 0.59).
    assert_eq!(one(&[2.0, 1.0], pen(vec![0, 0, 0], 1.5)), 0);
    // A penalty below 1 rewards repeats.
    assert_eq!(one(&[1.0, 1.2], pen(vec![0], 0.5)), 0);
}

/// Counts of tokens over `n` draws with seeds `0..n` (or positions `0..n` for one seed).
fn counts(x: &[f32], p: &SampleParams, n: u64, vary_position: bool) -> Vec<usize> {
    let reqs: Vec<SampleParams> = (0..n)
        .map(|i| {
            let mut r = p.clone();
            if vary_position {
                r.position = i;
            } else {
                r.seed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5eed;
            }
            r
        })
        .collect();
    let logits = Array2::from_shape_fn((n as usize, x.len()), |(_, j)| x[j]);
    let toks = sample_fast(C, logits.view(), &reqs).unwrap();
    let mut c = vec![0usize; x.len()];
    for t in toks {
        c[t as usize] += 1;
    }
    c
}

/// Softmax in f64 of `x / t` over the tokens in `keep`.
fn expected(x: &[f32], t: f64, keep: &[usize]) -> Vec<f64> {
    let m = keep.iter().map(|&i| x[i] as f64 / t).fold(f64::NEG_INFINITY, f64::max);
    let mut p = vec![0.0; x.len()];
    for &i in keep {
        p[i] = ((x[i] as f64 / t) - m).exp();
    }
    let s: f64 = p.iter().sum();
    p.iter().map(|v| v / s).collect()
}

/// Pearson's statistic over the kept tokens; tokens outside `keep` must never appear.
fn chi2(c: &[usize], p: &[f64], keep: &[usize]) -> f64 {
    let n: usize = c.iter().sum();
    for (i, &ci) in c.iter().enumerate() {
        if !keep.contains(&i) {
            assert_eq!(ci, 0, "token {i} is masked but was drawn {ci} times");
        }
    }
    keep.iter().map(|&i| (c[i] as f64 - n as f64 * p[i]).powi(2) / (n as f64 * p[i])).sum()
}

const X8: [f32; 8] = [1.0, 0.5, 2.0, -1.0, 0.0, 1.5, -0.5, 0.25];

#[test]
fn plain_sampling_draws_from_the_softmax() {
    let all: Vec<usize> = (0..8).collect();
    for (t, vary) in [(1.0f32, false), (1.0, true), (0.7, false), (2.5, true)] {
        let p = SampleParams {
            temperature: t,
            position: 11,
            seed: 99,
            ..Default::default()
        };
        let c = counts(&X8, &p, 40_000, vary);
        let e = expected(&X8, t as f64, &all);
        let stat = chi2(&c, &e, &all);
        assert!(stat < chi2_limit(7), "T = {t}, vary position {vary}: chi2 {stat} with counts {c:?}");
        // Negative control: the same counts are nowhere near the softmax at another temperature.
        let wrong = expected(&X8, t as f64 * 1.5, &all);
        let bad = chi2(&c, &wrong, &all);
        assert!(bad > 10.0 * chi2_limit(7), "T = {t}: the test cannot tell T from 1.5 T (chi2 {bad})");
    }
}

#[test]
fn top_k_top_p_and_min_p_keep_the_stated_sets_and_renormalise() {
    // Probabilities at T = 1 proportional to 1, 1/2, 1/4, …: ln 2 steps.
    let l2 = std::f32::consts::LN_2;
    let x: Vec<f32> = [0.0f32, 3.0, 1.0, 5.0, 2.0, 4.0].iter().map(|&k| -k * l2).collect();
    // p (by index) ∝ 1, 1/8, 1/2, 1/32, 1/4, 1/16.
    let cases: Vec<(SampleParams, Vec<usize>)> = vec![
        (
            SampleParams {
                top_k: 3,
                ..Default::default()
            },
            vec![0, 2, 4],
        ),
        (
            SampleParams {
                top_k: 1,
                ..Default::default()
            },
            vec![0],
        ),
        // Sorted masses 0.508, 0.254, 0.127, 0.063, …: cumulative 0.508, 0.762, 0.889.
        (
            SampleParams {
                top_p: 0.8,
                ..Default::default()
            },
            vec![0, 2, 4],
        ),
        (
            SampleParams {
                top_p: 0.5,
                ..Default::default()
            },
            vec![0],
        ),
        (
            SampleParams {
                top_p: 0.51,
                ..Default::default()
            },
            vec![0, 2],
        ),
        // Ratios to the largest: 1, 1/2, 1/4, 1/8, …
        (
            SampleParams {
                min_p: 0.2,
                ..Default::default()
            },
            vec![0, 2, 4],
        ),
        (
            SampleParams {
                min_p: 0.1,
                ..Default::default()
            },
            vec![0, 2, 4, 1],
        ),
        // top-k first, then top-p on the renormalised survivors (4/7, 2/7, 1/7).
        (
            SampleParams {
                top_k: 3,
                top_p: 0.8,
                ..Default::default()
            },
            vec![0, 2],
        ),
        (
            SampleParams {
                top_k: 4,
                min_p: 0.3,
                temperature: 1.0,
                ..Default::default()
            },
            vec![0, 2],
        ),
    ];
    for (p, keep) in cases {
        let c = counts(&x, &p, 30_000, false);
        let e = expected(&x, p.temperature as f64, &keep);
        for &i in &keep {
            assert!(c[i] > 0, "{p:?}: kept token {i} never drawn");
        }
        if keep.len() > 1 {
            let stat = chi2(&c, &e, &keep);
            assert!(stat < chi2_limit(keep.len() - 1), "{p:?}: chi2 {stat}, counts {c:?}");
        } else {
            chi2(&c, &e, &keep);
        }
    }
}

#[test]
fn tie_rules_of_the_masks() {
    // top-k keeps everything tied with the k-th value.
    let c = counts(
        &[1.0, 1.0, 1.0, 0.0],
        &SampleParams {
            top_k: 2,
            ..Default::default()
        },
        4000,
        false,
    );
    assert!(c[0] > 0 && c[1] > 0 && c[2] > 0 && c[3] == 0, "{c:?}");
    // top-p walks ties by ascending index: uniform over four, top_p 0.5 keeps 0 and 1 only.
    let c = counts(
        &[0.0; 4],
        &SampleParams {
            top_p: 0.5,
            ..Default::default()
        },
        4000,
        false,
    );
    assert!(c[0] > 0 && c[1] > 0 && c[2] == 0 && c[3] == 0, "{c:?}");
    // top-p always keeps at least the first token.
    let c = counts(
        &[0.0, 5.0, 0.0],
        &SampleParams {
            top_p: 1e-9,
            ..Default::default()
        },
        100,
        false,
    );
    assert_eq!(c, vec![0, 100, 0]);
    // Masking everything but -inf entries leaves those masked: only the finite token remains.
    let c = counts(
        &[f32::NEG_INFINITY, 1.0, f32::NAN],
        &SampleParams {
            top_p: 0.3,
            min_p: 0.5,
            ..Default::default()
        },
        100,
        false,
    );
    assert_eq!(c, vec![0, 100, 0]);
}

fn random_requests(rng: &mut Rng, n: usize, vocab: usize) -> Vec<SampleParams> {
    (0..n)
        .map(|_| {
            let mut p = SampleParams {
                seed: rng.next(),
                position: rng.next() % 10_000,
                ..Default::default()
            };
            match rng.below(6) {
                0 => p.temperature = 0.0,
                1 => p.top_k = 1 + rng.below(50),
                2 => p.top_p = 0.05 + 0.9 * (rng.below(1000) as f32 / 1000.0),
                3 => p.min_p = rng.below(1000) as f32 / 4000.0,
                4 => {
                    p.repetition_penalty = 1.3;
                    p.history = (0..20).map(|_| rng.below(vocab) as u32).collect();
                }
                _ => {
                    p.temperature = 0.3 + rng.below(20) as f32 / 10.0;
                    p.top_k = 40;
                    p.top_p = 0.9;
                    p.min_p = 0.02;
                }
            }
            p
        })
        .collect()
}

fn batch_invariance<T: Element>(seed: u64) {
    let mut rng = Rng(seed);
    let vocab = 3000;
    let n = 48;
    let logits = Array2::from_shape_fn((n, vocab), |_| T::from_f32(rng.f(6.0)));
    let reqs = random_requests(&mut rng, n, vocab);
    let alone: Vec<i64> = (0..n)
        .map(|i| sample(C, logits.slice(ndarray::s![i..i + 1, ..]), &reqs[i..i + 1]).unwrap()[0])
        .collect();
    assert!(alone.iter().all(|&t| t >= 0 && (t as usize) < vocab));
    // The whole batch, literal and fast.
    assert_eq!(sample(C, logits.view(), &reqs).unwrap().to_vec(), alone);
    assert_eq!(sample_fast(C, logits.view(), &reqs).unwrap().to_vec(), alone);
    // Random sub-batches in random order, with duplicated rows under other seeds beside them.
    for _ in 0..10 {
        let b = 1 + rng.below(64);
        let pick: Vec<usize> = (0..b).map(|_| rng.below(n)).collect();
        let mut rows = Vec::new();
        let mut rq = Vec::new();
        let mut want = Vec::new();
        for &i in &pick {
            rows.push(logits.row(i).to_owned());
            rq.push(reqs[i].clone());
            want.push(Some(alone[i]));
            if rng.below(2) == 0 {
                rows.push(logits.row(i).to_owned());
                let mut other = reqs[i].clone();
                other.seed ^= 1;
                rq.push(other);
                want.push(None);
            }
        }
        let views: Vec<_> = rows.iter().map(|r| r.view().insert_axis(ndarray::Axis(0))).collect();
        let lg = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
        let got = sample_fast(C, lg.view(), &rq).unwrap();
        for (j, w) in want.iter().enumerate() {
            if let Some(w) = w {
                assert_eq!(got[j], *w, "row {j} in a batch of {}", rq.len());
            }
        }
    }
}

#[test]
fn a_request_gets_the_same_token_alone_and_in_any_batch() {
    batch_invariance::<f32>(1);
    batch_invariance::<bf16>(2);
}

#[test]
fn the_seed_and_the_position_both_change_the_draw() {
    // Uniform logits: the token is pure noise; over 200 seeds (or positions) many tokens appear.
    let x = vec![0.0f32; 1000];
    let by_seed = counts(&x, &SampleParams::default(), 200, false);
    let by_pos = counts(&x, &SampleParams::default(), 200, true);
    assert!(by_seed.iter().filter(|&&c| c > 0).count() > 150);
    assert!(by_pos.iter().filter(|&&c| c > 0).count() > 150);
    // And the same pair twice is the same token.
    let p = SampleParams {
        seed: 5,
        position: 6,
        ..Default::default()
    };
    assert_eq!(one(&x, p.clone()), one(&x, p));
}

#[test]
fn bad_parameters_are_typed_errors() {
    let x = row(&[0.0, 1.0, 2.0]);
    let bad = |p: SampleParams| matches!(sample(C, x.view(), &[p]), Err(Error::Param { .. }));
    let d = SampleParams::default;
    assert!(bad(SampleParams { temperature: -1.0, ..d() }));
    assert!(bad(SampleParams { temperature: f32::NAN, ..d() }));
    assert!(bad(SampleParams {
        temperature: f32::INFINITY,
        ..d()
    }));
    assert!(bad(SampleParams { top_p: 0.0, ..d() }));
    assert!(bad(SampleParams { top_p: 1.5, ..d() }));
    assert!(bad(SampleParams { top_p: f32::NAN, ..d() }));
    assert!(bad(SampleParams { min_p: -0.1, ..d() }));
    assert!(bad(SampleParams { min_p: 1.1, ..d() }));
    assert!(bad(SampleParams {
        repetition_penalty: 0.0,
        ..d()
    }));
    assert!(bad(SampleParams {
        repetition_penalty: 1.2,
        history: vec![3],
        ..d()
    }));
    assert!(matches!(sample(C, x.view(), &[d(), d()]), Err(Error::Shape { .. })));
    assert!(matches!(sample(C, Array2::<f32>::zeros((1, 0)).view(), &[d()]), Err(Error::Empty { .. })));
}
