//! The GPU backend (lockstep-gpu) equals the reference bit for bit, is batch invariant,
//! repeatable and stream-independent; cuBLAS, the negative control, is not batch invariant.
//!
//! Without a GPU every test prints `skipped: no CUDA device (...)` and returns; with
//! `LOCKSTEP_REQUIRE_GPU=1` (set by `bundle/run-all`) a missing GPU fails every test.
//! Tests named `gpu_sanitize_*` are the small ones `compute-sanitizer` runs.

mod common;
mod gpu_common;

use gpu_common::{gpu, GpuOps, GPU_STEMS};
use half::{bf16, f16};
use lockstep_conformance::case::{run_case, Case, OpSpec};
use lockstep_conformance::catalog::{matmul_case, row_case, row_ops, Values};
use lockstep_conformance::compare::{assert_bits, compare, Comparison};
use lockstep_conformance::ops::{CpuFast, CpuLiteral, Ops};
use lockstep_conformance::suite::{self, batch_invariance, Report, BATCHES};
use lockstep_conformance::tensor::Tensor;
use lockstep_gpu::ops::matmul_tc::TcKernel;
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rmsnorm::RmsnormParams;
use lockstep_reference::{matmul, Contract, DType, KStepKind, FMA_V1, MMA_SM90_V1};
use ndarray::{s, Array1, Array2};

fn t32(a: &Array2<f32>) -> Tensor {
    Tensor::F32(a.clone().into_dyn())
}

/// `case` on the GPU against the CPU backend `cpu` (the literal reference, or the fast path
/// where the literal one is too slow: the two are equal bit for bit, see the reference's
/// tests), with both times on stderr.
fn gpu_vs<B: Ops>(cpu: &B, g: &GpuOps, case: &Case) -> Result<Comparison, String> {
    let t0 = std::time::Instant::now();
    let exp = run_case(cpu, case).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let t1 = std::time::Instant::now();
    let got = run_case(g, case).map_err(|e| e.to_string())?;
    eprintln!("{}: {} {:.2?}, gpu {:.2?}", case.name, cpu.name(), t1 - t0, t1.elapsed());
    Ok(suite::compare_outputs(&exp, &got))
}

#[test]
fn gpu_device_opens_and_reports_itself() {
    let Some(g) = gpu("gpu_device_opens_and_reports_itself") else { return };
    let i = g.info();
    eprintln!("{i}");
    assert!(i.compute_capability.0 >= 7, "{i}");
    assert!(i.sm_count > 0);
}

#[test]
fn gpu_matmul_fma_matches_reference_across_batches_widths_and_kc_edges() {
    let Some(g) = gpu("gpu_matmul_fma_matches_reference") else { return };
    common::assert_matches_reference(&GpuOps(g), &FMA_V1, "matmul");
}

#[test]
fn gpu_row_ops_and_rope_match_reference_across_batches_widths_and_specials() {
    let Some(g) = gpu("gpu_row_ops_and_rope_match_reference") else { return };
    let g = GpuOps(g);
    for stem in GPU_STEMS.iter().filter(|&&s| s != "matmul") {
        common::assert_matches_reference(&g, &FMA_V1, stem);
    }
}

#[test]
fn gpu_rows_are_batch_invariant() {
    let Some(g) = gpu("gpu_rows_are_batch_invariant") else { return };
    let g = GpuOps(g);
    let mut cases: Vec<_> = suite::invariance_cases(&FMA_V1)
        .into_iter()
        .filter(|k| GPU_STEMS.contains(&k.spec.stem()))
        .collect();
    // Shapes where the matmul launch changes with M: small M spreads KC chunks over CTAs
    // (split), large M gives each CTA whole tiles; the bits must not notice.
    cases.push(matmul_case(
        &FMA_V1,
        OpSpec::Addmm,
        DType::F32,
        DType::F32,
        1024,
        4096,
        2048,
        0,
        Values::Uniform(1.0),
    ));
    cases.push(matmul_case(
        &FMA_V1,
        OpSpec::Mm,
        DType::Bf16,
        DType::Bf16,
        1024,
        2049,
        896,
        0,
        Values::Uniform(1.0),
    ));
    // Rows of 8192: a few rows run on clusters (the block engine), the whole batch on the
    // warp engine (ops/rowplan.rs); the bits must not notice either.
    for op in [OpSpec::Rmsnorm { eps: 1e-6 }, OpSpec::Softmax, OpSpec::LogSoftmax] {
        cases.push(row_case(&FMA_V1, op, DType::Bf16, DType::Bf16, 1024, 8192, Values::Uniform(1.0)));
    }
    let mut report = Report::default();
    for case in &cases {
        report.add(
            "gpu",
            &FMA_V1.id(),
            &case.spec.name(),
            "batch-invariance",
            &case.name,
            batch_invariance(&g, case),
        );
    }
    eprintln!("{}", report.table());
    assert!(report.passed(), "\n{}", report.table());
}

#[test]
fn gpu_vocabulary_rows_match_fast_cpu_path_and_are_batch_invariant() {
    // Rows of 151936 run on clusters: of 16 CTAs where the rows are few (every CTA an SM of
    // its own) or where f32 softmax's smaller slices let more CTAs share an SM, of 8
    // elsewhere (gpu/src/ops/rowplan.rs `cluster_size`). 40 rows and their sub-batches of
    // 1 … 33 cross both sizes; the bits must not notice. The literal path is slow here; the
    // fast path equals it (the reference's tests).
    let Some(g) = gpu("gpu_vocabulary_rows_match_fast_cpu_path_and_are_batch_invariant") else {
        return;
    };
    let g = GpuOps(g);
    let mut report = Report::default();
    for op in row_ops() {
        for dtype in [DType::F32, DType::Bf16] {
            let case = row_case(&FMA_V1, op.clone(), dtype, dtype, 40, 151936, Values::Uniform(1.0));
            let (id, name) = (FMA_V1.id(), case.spec.name());
            report.add("gpu", &id, &name, "vs-fast:vocabulary", &case.name, gpu_vs(&CpuFast, &g, &case));
            report.add("gpu", &id, &name, "batch-invariance", &case.name, batch_invariance(&g, &case));
        }
    }
    eprintln!("{}", report.table());
    assert!(report.passed(), "\n{}", report.table());
}

#[test]
fn gpu_matmul_large_shapes_match_fast_cpu_path() {
    // The literal path is too slow here; the fast path equals it (tests/matmul.rs).
    let Some(g) = gpu("gpu_matmul_large_shapes_match_fast_cpu_path") else {
        return;
    };
    let g = GpuOps(g);
    let shapes: [(OpSpec, DType, DType, usize, usize, usize, usize); 7] = [
        (OpSpec::Mm, DType::F32, DType::F32, 4096, 4096, 4096, 0),
        (OpSpec::Mm, DType::Bf16, DType::Bf16, 2048, 14336, 1024, 0),
        (OpSpec::Mm, DType::Bf16, DType::F32, 1, 14336, 4096, 0),
        (OpSpec::Addmm, DType::F32, DType::F32, 7, 4096, 14336, 0),
        (OpSpec::Addmm, DType::Bf16, DType::Bf16, 33, 5120, 5120, 0),
        (OpSpec::Mm, DType::F32, DType::F32, 127, 896, 4864, 0),
        (OpSpec::Bmm, DType::Bf16, DType::F32, 257, 2048, 128, 8),
    ];
    let mut report = Report::default();
    for (op, tin, tout, m, k, n, batch) in shapes {
        let case = matmul_case(&FMA_V1, op, tin, tout, m, k, n, batch, Values::Uniform(1.0));
        report.add("gpu", &FMA_V1.id(), &case.spec.name(), "vs-fast:large", &case.name, gpu_vs(&CpuFast, &g, &case));
    }
    assert!(report.passed(), "\n{}", report.table());
}

#[test]
fn gpu_attention_long_sequences_match_fast_cpu_path() {
    // Sequences of up to 16,384 tokens at a model's head shape (many splits per row, pages
    // shuffled through the pool): GPU against the fast CPU path, which equals the literal one
    // (tests/attention.rs).
    let Some(g) = gpu("gpu_attention_long_sequences_match_fast_cpu_path") else {
        return;
    };
    let g = GpuOps(g);
    let mut report = Report::default();
    for case in lockstep_conformance::catalog::long_attention_cases(&FMA_V1) {
        report.add("gpu", &FMA_V1.id(), &case.spec.name(), "vs-fast:long", &case.name, gpu_vs(&CpuFast, &g, &case));
    }
    assert!(report.passed(), "\n{}", report.table());
}

#[test]
fn gpu_matmul_special_values_and_kc_edges_at_depth() {
    let Some(g) = gpu("gpu_matmul_special_values_and_kc_edges_at_depth") else {
        return;
    };
    let g = GpuOps(g);
    let mut report = Report::default();
    for k in [255, 256, 257, 511, 512, 513, 1000] {
        for m in [1, 3, 70] {
            for v in [Values::Specials(1.0), Values::Uniform(1e-19)] {
                let case = matmul_case(&FMA_V1, OpSpec::Addmm, DType::F32, DType::F32, m, k, 65, 0, v);
                let exp = run_case(&CpuLiteral, &case).expect("reference runs");
                let got = run_case(&g, &case).map_err(|e| e.to_string());
                report.add(
                    "gpu",
                    &FMA_V1.id(),
                    "addmm",
                    "specials",
                    &case.name,
                    got.map(|got| compare(&exp["y"], &got["y"])),
                );
            }
        }
    }
    assert!(report.passed(), "\n{}", report.table());
}

#[test]
fn gpu_custom_contract_constants_reach_the_kernels() {
    // A different KC and L must give the reference's bits for that contract, and differ
    // from fma-v1 on ill-conditioned data: the header really carries the contract.
    let Some(g) = gpu("gpu_custom_contract_constants_reach_the_kernels") else {
        return;
    };
    let c = Contract::custom(KStepKind::Fma, Some(64), 32, 64, 256).unwrap();
    let k = 1000;
    let a = Array2::from_shape_fn((2, k), |(i, j)| {
        if j % 2 == 0 {
            1e4f32 + j as f32 + i as f32
        } else {
            -1e4f32 - j as f32 + 0.37
        }
    });
    let b = Array2::from_shape_fn((k, 3), |(j, n)| 1.0 + ((j + n) % 7) as f32 * 1e-3);
    let lit: Array2<f32> = matmul::mm(&c, a.view(), b.view()).unwrap();
    let got: Array2<f32> = g.mm(&c, a.view(), b.view()).unwrap();
    assert_bits("custom KC = 64", &t32(&lit), &t32(&got));
    let v1: Array2<f32> = g.mm(&FMA_V1, a.view(), b.view()).unwrap();
    assert!(
        compare(&t32(&v1), &t32(&got)).mismatches > 0,
        "KC 64 and KC 256 gave the same bits: the contract did not reach the kernel"
    );
    let whole = Contract::custom(KStepKind::Fma, None, 1024, 64, 256).unwrap();
    let lit: Array2<f32> = matmul::mm(&whole, a.view(), b.view()).unwrap();
    assert_bits("no split", &t32(&lit), &t32(&g.mm(&whole, a.view(), b.view()).unwrap()));
    let x = Array2::from_shape_fn((3, 3000), |(i, j)| ((i * 7919 + j * 104729) % 1000) as f32 * 1e-3 - 0.5);
    let lit: Array2<f32> = lockstep_reference::mean::sum(&c, x.view()).unwrap();
    assert_bits("sum with L = 32", &t32(&lit), &t32(&g.sum(&c, x.view()).unwrap()));
}

#[test]
fn gpu_repeats_bitwise_over_100_calls() {
    let Some(g) = gpu("gpu_repeats_bitwise_over_100_calls") else { return };
    let mm = matmul_case(&FMA_V1, OpSpec::Addmm, DType::Bf16, DType::F32, 33, 4096, 512, 0, Values::Uniform(1.0));
    let rms = row_case(
        &FMA_V1,
        OpSpec::RmsnormResidual { eps: 1e-5 },
        DType::Bf16,
        DType::Bf16,
        64,
        4096,
        Values::Uniform(1.0),
    );
    let g = GpuOps(g);
    for case in [&mm, &rms] {
        let first = run_case(&g, case).unwrap();
        for i in 1..100 {
            let again = run_case(&g, case).unwrap();
            for (k, t) in &first {
                assert_bits(&format!("{} call {i} output {k}", case.name), t, &again[k]);
            }
        }
    }
}

#[test]
fn gpu_two_streams_in_parallel_give_the_same_bits() {
    let Some(g) = gpu("gpu_two_streams_in_parallel_give_the_same_bits") else {
        return;
    };
    let case = matmul_case(&FMA_V1, OpSpec::Addmm, DType::F32, DType::Bf16, 7, 8192, 1024, 0, Values::Uniform(1.0));
    let expected = run_case(&CpuFast, &case).unwrap();
    let streams = [g.clone(), g.new_stream().unwrap()];
    std::thread::scope(|sc| {
        let handles: Vec<_> = streams
            .into_iter()
            .map(|gs| {
                let case = &case;
                sc.spawn(move || (0..20).map(|_| run_case(&GpuOps(gs.clone()), case).unwrap()).collect::<Vec<_>>())
            })
            .collect();
        for h in handles {
            for got in h.join().unwrap() {
                assert_bits("stream", &expected["y"], &got["y"]);
            }
        }
    });
}

#[test]
fn gpu_attention_and_kv_append_match_the_literal_reference_on_the_catalog() {
    // Prefill, chunked prefill, decode (contiguous and paged, GQA, windows, f32/bf16) and the
    // KV append: every catalog case, GPU against the literal reference, bit for bit.
    let Some(g) = gpu("gpu_attention_and_kv_append_match_the_literal_reference_on_the_catalog") else {
        return;
    };
    let g = GpuOps(g);
    for c in [&FMA_V1, &custom_small_attention()] {
        let cases = lockstep_conformance::catalog::attention_cases(c);
        assert!(!cases.is_empty());
        for case in &cases {
            let exp = run_case(&CpuLiteral, case).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let got = run_case(&g, case).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            for (k, t) in &exp {
                assert_bits(&format!("{} {k}", case.name), t, &got[k]);
            }
        }
    }
}

#[test]
fn gpu_sampling_matches_the_literal_reference_on_the_catalog() {
    let Some(g) = gpu("gpu_sampling_matches_the_literal_reference_on_the_catalog") else {
        return;
    };
    let g = GpuOps(g);
    let cases = lockstep_conformance::catalog::sample_cases(&FMA_V1);
    assert!(!cases.is_empty());
    for case in &cases {
        let exp = run_case(&CpuLiteral, case).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let got = run_case(&g, case).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        for (k, t) in &exp {
            assert_bits(&format!("{} {k}", case.name), t, &got[k]);
        }
    }
}

/// A contract with small attention blocks and splits, so that short sequences cross many
/// of both (the kernels read BN and S only from the generated header).
fn custom_small_attention() -> Contract {
    Contract::custom(KStepKind::Fma, Some(64), 32, 8, 24).expect("valid custom contract")
}

#[test]
fn gpu_decode_is_batch_invariant_over_both_layouts() {
    let Some(g) = gpu("gpu_decode_is_batch_invariant_over_both_layouts") else {
        return;
    };
    let g = GpuOps(g);
    let mut report = Report::default();
    for c in [&FMA_V1, &custom_small_attention()] {
        let cases: Vec<_> = lockstep_conformance::catalog::attention_cases(c)
            .into_iter()
            .filter(|k| matches!(k.spec, OpSpec::AttnDecode { .. }))
            .collect();
        assert!(!cases.is_empty(), "no decode cases under {}", c.id());
        for case in &cases {
            report.add("gpu", &c.id(), &case.spec.name(), "batch-invariance", &case.name, batch_invariance(&g, case));
        }
    }
    assert!(report.passed(), "\n{}", report.table());
}

#[test]
fn gpu_attention_bad_input_is_the_reference_error() {
    use lockstep_reference::attention::{self, AttnParams, KvCache, KvLayout, Span};
    use ndarray::{Array3, Array4};
    let Some(g) = gpu("gpu_attention_bad_input_is_the_reference_error") else {
        return;
    };
    let k = Array4::<f32>::zeros((2, 8, 1, 4));
    let table = Array2::from_shape_vec((1, 2), vec![0i64, 7]).unwrap();
    let lens = Array1::from(vec![12i64]);
    let cache = KvCache {
        layout: KvLayout::Paged {
            k: k.view(),
            v: k.view(),
            block_table: table.view(),
        },
        lens: lens.view(),
    };
    let q = Array3::<f32>::zeros((1, 2, 4));
    let p = AttnParams::for_head_dim(4);
    let want = attention::decode::<f32, f32>(&FMA_V1, q.view(), &cache, &p).unwrap_err();
    let got = g.attn_decode::<f32, f32>(&FMA_V1, q.view(), &cache, &p).unwrap_err();
    assert_eq!(got.to_string(), lockstep_gpu::Error::from(want).to_string());
    let kn = Array3::<f32>::zeros((1, 1, 4));
    let spans = [Span { seq: 0, start: 14, len: 1 }];
    let want = attention::appended(&cache, kn.view(), kn.view(), &spans).unwrap_err();
    let got = g.kv_append(&cache, kn.view(), kn.view(), &spans).unwrap_err();
    assert_eq!(got.to_string(), lockstep_gpu::Error::from(want).to_string());
}

#[test]
fn gpu_bad_input_is_an_error_value() {
    let Some(g) = gpu("gpu_bad_input_is_an_error_value") else { return };
    let a = Array2::<f32>::zeros((2, 3));
    let b = Array2::<f32>::zeros((4, 5));
    let e = g.mm::<f32, f32>(&FMA_V1, a.view(), b.view()).unwrap_err();
    assert!(e.to_string().contains("2×3"), "{e}");
    // mma-sm90: bf16 runs on sm_90 and is the typed error naming the device elsewhere; f32
    // inputs are the reference's own Unsupported error on any device.
    let ab = a.mapv(bf16::from_f32);
    let r = g.mm::<bf16, f32>(&MMA_SM90_V1, ab.view(), ab.t());
    if g.info().compute_capability == (9, 0) {
        assert_eq!(r.unwrap(), Array2::<f32>::zeros((2, 2)));
    } else {
        let e = r.unwrap_err();
        assert!(is_unsupported(&e) && e.to_string().contains(&g.info().name), "{e}");
    }
    let e = g.mm::<f32, f32>(&MMA_SM90_V1, a.view(), a.t()).unwrap_err();
    assert!(is_unsupported(&e), "{e}");
    let x = Array2::<f32>::zeros((2, 4));
    let e = g
        .rmsnorm::<f32, f32>(&FMA_V1, x.view(), Array1::zeros(3).view(), RmsnormParams { eps: 1e-6 })
        .unwrap_err();
    assert!(e.to_string().contains("weight"), "{e}");
    assert!(g.sum::<f32, f32>(&FMA_V1, Array2::<f32>::zeros((0, 4)).view()).is_err());
}

#[test]
fn gpu_sanitize_every_kernel_on_small_shapes() {
    // Small enough for compute-sanitizer (memcheck, racecheck): both matmul launches
    // (split and whole tiles), bias, bmm, every row op, rope and every elementwise op,
    // compared bitwise.
    let Some(g) = gpu("gpu_sanitize_every_kernel_on_small_shapes") else { return };
    let g = GpuOps(g);
    let mut cases = vec![
        matmul_case(&FMA_V1, OpSpec::Addmm, DType::F32, DType::F32, 5, 600, 70, 0, Values::Uniform(1.0)),
        matmul_case(&FMA_V1, OpSpec::Mm, DType::Bf16, DType::Bf16, 130, 300, 1100, 0, Values::Uniform(1.0)),
        matmul_case(&FMA_V1, OpSpec::Bmm, DType::Bf16, DType::F16, 9, 513, 10, 3, Values::Uniform(1.0)),
    ];
    for op in row_ops() {
        cases.push(row_case(&FMA_V1, op.clone(), DType::Bf16, DType::F32, 3, 1500, Values::Uniform(1.0)));
        // A cluster per row (fewer rows than SMs, H ≥ 8 chunks) with the slice cache:
        // softmax's staged exps in place over the f32 cache, and through the staging
        // buffer in two groups of chunks for bf16 (40 chunks of 128 lanes per CTA).
        cases.push(row_case(&FMA_V1, op.clone(), DType::F32, DType::F32, 2, 9000, Values::Uniform(1.0)));
        cases.push(row_case(&FMA_V1, op, DType::Bf16, DType::Bf16, 2, 40000, Values::Uniform(1.0)));
    }
    cases.push(lockstep_conformance::catalog::rope_case(&FMA_V1, DType::Bf16, DType::Bf16, 5, 2, 64, 100));
    for func in Unary::ALL {
        cases.push(lockstep_conformance::catalog::unary_case(&FMA_V1, func, DType::Bf16, DType::F32, 300));
    }
    // Attention: one small case of each entry point and layout, and the KV append.
    let mut seen = std::collections::HashSet::new();
    for case in lockstep_conformance::catalog::attention_cases(&FMA_V1) {
        let key = format!("{}{}", case.spec.name(), case.name.contains("paged"));
        if seen.insert(key) {
            cases.push(case);
        }
    }
    cases.extend(lockstep_conformance::catalog::sample_cases(&FMA_V1).into_iter().take(1));
    for case in &cases {
        let exp = run_case(&CpuLiteral, case).unwrap();
        let got = run_case(&g, case).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        for (k, t) in &exp {
            assert_bits(&format!("{} {k}", case.name), t, &got[k]);
        }
    }
}

#[test]
fn gpu_cublas_sgemm_is_not_batch_invariant_but_lockstep_is() {
    // The negative control: the same check that lockstep's kernels pass catches cuBLAS
    // choosing a different strategy for one row than for 2048 (known on H100: up to 1669.25).
    let Some(g) = gpu("gpu_cublas_sgemm_is_not_batch_invariant_but_lockstep_is") else {
        return;
    };
    let (m, k, n) = (2048, 4096, 4096);
    let batches = [1, 2, 7, 16, 33, 128, 1024];
    let cublas = lockstep_gpu::cublas::invariance_probe(&g, m, k, n, &batches).unwrap();
    eprintln!("{}", cublas.summary());
    let ours = lockstep_gpu::cublas::lockstep_probe(&g, m, k, n, &batches).unwrap();
    eprintln!("{}", ours.summary());
    assert!(ours.invariant(), "{}", ours.summary());
    assert!(!cublas.invariant(), "the negative control did not fail: {}", cublas.summary());
    // Row 0 alone must equal row 0 of the batch for lockstep; show what cuBLAS does there.
    let (a, b) = lockstep_gpu::cublas::linspace_inputs(m, k, n);
    let one: Array2<f32> = g.mm(&FMA_V1, a.slice(s![..1, ..]), b.view()).unwrap();
    let fast: Array2<f32> = matmul::mm_fast(&FMA_V1, a.slice(s![..1, ..]), b.view()).unwrap();
    assert_bits("lockstep row 0 vs cpu", &t32(&fast), &t32(&one));
}

#[test]
fn gpu_batches_cover_the_required_sizes() {
    // Guard: the invariance family must keep covering every batch size of the issue.
    for b in [1, 2, 3, 7, 8, 16, 33, 64, 127, 128, 257, 1024] {
        assert!(BATCHES.contains(&b), "batch size {b} dropped from suite::BATCHES");
    }
}

fn is_unsupported(e: &lockstep_gpu::Error) -> bool {
    matches!(e, lockstep_gpu::Error::Reference(lockstep_reference::Error::Unsupported { .. }))
}

/// The GPU for an `mma-sm90` test: `None` after a visible skip line without a GPU, and on a
/// device that is not sm_90, after checking that the op is the typed error naming it there.
fn sm90(name: &str) -> Option<lockstep_gpu::Gpu> {
    let g = gpu(name)?;
    if g.info().compute_capability == (9, 0) {
        return Some(g);
    }
    let a = Array2::from_elem((2, 16), bf16::ONE);
    let e = g.mm::<bf16, f32>(&MMA_SM90_V1, a.view(), a.t()).unwrap_err();
    assert!(is_unsupported(&e) && e.to_string().contains(&g.info().name), "{e}");
    eprintln!("{name}: skipped: {} is not sm_90, where mma-sm90 matmul is the typed error: {e}", g.info());
    None
}

/// M of the tensor-core harness (docs/perf-tc.md): every dispatch boundary and tile edge.
const TC_MS: [usize; 19] = [1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 63, 64, 127, 128, 129, 255, 256, 1000, 4096];
/// (N, K) of the harness: N never a multiple of a tile, K % 16 ≠ 0 and K % 8 ≠ 0 included.
const TC_NKS: [(usize, usize); 6] = [(264, 1000), (520, 72), (136, 4104), (200, 37), (8, 16), (300, 8)];

#[test]
fn gpu_matmul_mma_sm90_matches_reference_catalog() {
    let Some(g) = sm90("gpu_matmul_mma_sm90_matches_reference_catalog") else {
        return;
    };
    common::assert_matches_reference(&GpuOps(g), &MMA_SM90_V1, "matmul");
}

#[test]
fn gpu_matmul_mma_sm90_matches_reference_over_dispatch_shapes_outputs_bias_and_specials() {
    let Some(g) = sm90("gpu_matmul_mma_sm90_matches_reference_over_dispatch_shapes") else {
        return;
    };
    let g = GpuOps(g);
    let mut report = Report::default();
    let mut i = 0usize;
    for m in TC_MS {
        for (n, k) in TC_NKS {
            let tin = [DType::Bf16, DType::F16][i % 2];
            // All six (output × bias) for M ≤ 256, two rotating ones above (as the harness).
            let combos: Vec<(DType, OpSpec)> = DType::ALL
                .iter()
                .flat_map(|&t| [(t, OpSpec::Mm), (t, OpSpec::Addmm)])
                .enumerate()
                .filter(|(j, _)| m <= 256 || j % 3 == i % 3)
                .map(|(_, x)| x)
                .collect();
            for (tout, op) in combos {
                let v = if (i + m).is_multiple_of(3) {
                    Values::Specials(1.0)
                } else {
                    Values::Uniform(1.0)
                };
                let case = matmul_case(&MMA_SM90_V1, op, tin, tout, m, k, n, 0, v);
                // The fast CPU path equals the literal one (reference tests); the largest
                // product here (4096 × 136 × 4104) takes it a few seconds.
                report.add(
                    "gpu",
                    &MMA_SM90_V1.id(),
                    &case.spec.name(),
                    "tc-shapes",
                    &case.name,
                    gpu_vs(&CpuFast, &g, &case),
                );
            }
            i += 1;
        }
    }
    for (tin, tout, m, k, n) in [(DType::Bf16, DType::F16, 17, 72, 40), (DType::F16, DType::F32, 129, 37, 136)] {
        let case = matmul_case(&MMA_SM90_V1, OpSpec::Bmm, tin, tout, m, k, n, 3, Values::Specials(1.0));
        report.add("gpu", &MMA_SM90_V1.id(), "bmm", "tc-shapes", &case.name, gpu_vs(&CpuLiteral, &g, &case));
    }
    assert!(report.passed(), "\n{}", report.table());
}

/// Deterministic values in [-2, 2) with about one in `every` a special (±0, ±inf, NaN, a
/// subnormal of f16 and bf16, a huge value).
fn tc_values(len: usize, seed: u64, every: usize) -> Vec<f32> {
    let specials = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 3e-40, 1e-7, -6e4, 1e30];
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let r = (s >> 33) as u32;
            if every > 0 && (r as usize).is_multiple_of(every) {
                specials[i % specials.len()]
            } else {
                (r as f32 / (1u64 << 31) as f32) * 4.0 - 2.0
            }
        })
        .collect()
}

#[test]
fn gpu_matmul_mma_sm90_every_kernel_matches_reference() {
    // Every exported kernel, not only those the dispatcher picks for these shapes: each
    // must give the reference's bits wherever it accepts the shape, and refuse the rest.
    let Some(g) = sm90("gpu_matmul_mma_sm90_every_kernel_matches_reference") else {
        return;
    };
    let c = &MMA_SM90_V1;
    for kern in TcKernel::ALL {
        for (m, n, k) in [
            (1, 72, 40),
            (8, 264, 1000),
            (16, 130, 8),
            (31, 200, 37),
            (32, 136, 4104),
            (130, 300, 72),
            (257, 520, 16),
        ] {
            let af = Array2::from_shape_vec((m, k), tc_values(m * k, (m * 31 + k) as u64, 16)).unwrap();
            let bf = Array2::from_shape_vec((k, n), tc_values(k * n, (n * 17 + k) as u64, 16)).unwrap();
            let bias = Array1::from_vec(tc_values(n, n as u64, 8));
            let what = format!("{} M {m} N {n} K {k}", kern.name());
            let (a, b) = (af.mapv(bf16::from_f32), bf.mapv(bf16::from_f32));
            let got = g.mm_tc_kernel::<bf16, f32>(c, a.view(), b.view(), Some(bias.view()), kern);
            if !kern.accepts(m, k) {
                assert!(got.as_ref().is_err_and(is_unsupported), "{what}: {:?}", got.map(|_| ()));
                continue;
            }
            let exp: Array2<f32> = matmul::addmm(c, a.view(), b.view(), bias.view()).unwrap();
            assert_bits(&format!("{what} bf16→f32 +bias"), &t32(&exp), &t32(&got.unwrap()));
            let (a, b) = (af.mapv(f16::from_f32), bf.mapv(f16::from_f32));
            let exp: Array2<bf16> = matmul::mm(c, a.view(), b.view()).unwrap();
            let got: Array2<bf16> = g.mm_tc_kernel(c, a.view(), b.view(), None, kern).unwrap();
            assert_bits(&format!("{what} f16→bf16"), &Tensor::Bf16(exp.into_dyn()), &Tensor::Bf16(got.into_dyn()));
            let exp: Array2<f16> = matmul::addmm(c, a.view(), b.view(), bias.view()).unwrap();
            let got: Array2<f16> = g.mm_tc_kernel(c, a.view(), b.view(), Some(bias.view()), kern).unwrap();
            assert_bits(&format!("{what} f16→f16 +bias"), &Tensor::F16(exp.into_dyn()), &Tensor::F16(got.into_dyn()));
        }
    }
}

#[test]
fn gpu_matmul_mma_sm90_rows_are_batch_invariant_across_kernels() {
    // The batch sizes of suite::BATCHES cross every dispatch boundary (gemv for M ≤ 16 or
    // M ≤ 32 at N ≥ 8192, then wgmma tiles chosen by wave count; mma_anyk when K % 8 ≠ 0):
    // each row must equal its row of the full batch whichever kernel ran.
    let Some(g) = sm90("gpu_matmul_mma_sm90_rows_are_batch_invariant_across_kernels") else {
        return;
    };
    let g = GpuOps(g);
    let c = &MMA_SM90_V1;
    let mut cases: Vec<_> = suite::invariance_cases(c).into_iter().filter(|k| k.spec.stem() == "matmul").collect();
    cases.push(matmul_case(
        c,
        OpSpec::Addmm,
        DType::Bf16,
        DType::Bf16,
        1024,
        4096,
        4096,
        0,
        Values::Uniform(1.0),
    ));
    cases.push(matmul_case(c, OpSpec::Mm, DType::F16, DType::F32, 1024, 1000, 8192, 0, Values::Uniform(1.0)));
    cases.push(matmul_case(c, OpSpec::Addmm, DType::Bf16, DType::F16, 1024, 37, 520, 0, Values::Specials(1.0)));
    let mut report = Report::default();
    for case in &cases {
        report.add("gpu", &c.id(), &case.spec.name(), "batch-invariance", &case.name, batch_invariance(&g, case));
    }
    eprintln!("{}", report.table());
    assert!(report.passed(), "\n{}", report.table());
}

#[test]
fn gpu_sanitize_mma_step_check_conforms_on_sm_90() {
    // Single tensor-core steps on this device vs the CPU model of docs/spec/mma-sm90.md, bit
    // for bit. The rule was measured on sm_90: there it must conform; on other
    // architectures (mma.sync m16n8k16 exists from sm_80 on) the check runs and reports.
    let Some(g) = gpu("gpu_sanitize_mma_step_check_conforms_on_sm_90") else {
        return;
    };
    let cc = g.info().compute_capability;
    match lockstep_gpu::mma_probe::check_steps(&g) {
        Ok(r) => {
            eprintln!("mma-sm90 on {}: {}", g.info().name, r.summary());
            assert!(r.elements > 0);
            if cc == (9, 0) {
                assert!(r.conforms(), "{}", r.summary());
            }
        }
        Err(e) => {
            assert!(cc < (8, 0), "the step check could not run on sm_{}{}: {e}", cc.0, cc.1);
            eprintln!("mma-sm90 step check not run: {e}");
        }
    }
}

#[test]
fn gpu_cublas_bf16_against_the_mma_sm90_tree_is_reported() {
    // Informative (cuBLAS promises no tree): prints which M follow mma-sm90-v1. Small enough
    // for a test: K = 1024, N = 512, the first 4 rows and the last of each M.
    let Some(g) = gpu("gpu_cublas_bf16_against_the_mma_sm90_tree_is_reported") else {
        return;
    };
    let r = lockstep_gpu::mma_probe::cublas_bf16_check(&g, 1024, 512, &[1, 16, 128, 256], 4).unwrap();
    eprintln!("{}", r.summary());
    assert_eq!(r.rows.len(), 4);
    assert!(r.rows.iter().all(|x| x.elements == x.rows.len() * 512));
}
