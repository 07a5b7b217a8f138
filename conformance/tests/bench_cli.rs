//! `lockstep bench` arguments and its no-GPU error path, on any machine (the GPU run itself
//! is `lockstep_gpu::bench`'s smoke test and `lockstep bench --json` on a GPU machine, docs/perf.md).

use std::process::Command;

fn lockstep(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn bench_help_lists_the_gpu_options() {
    let o = lockstep(&["bench", "--help"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    for opt in [
        "--gpu",
        "--cpu",
        "--runs",
        "--max-m",
        "--quick",
        "--filter",
        "--row-budget-s",
        "--time-limit-s",
        "--json",
        "--sweep",
    ] {
        assert!(t.contains(opt), "{opt} missing from:\n{t}");
    }
}

#[test]
fn bench_rejects_bad_arguments() {
    for args in [
        &["bench", "--cpu", "--gpu"][..],
        &["bench", "--runs", "0"],
        &["bench", "--max-m", "x"],
        &["bench", "--bogus"],
        &["bench", "--sweep", "--cpu"],
        &["bench", "--sweep", "--filter", "x"],
        &["bench", "--sweep", "--max-m", "16"],
    ] {
        let o = lockstep(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
}

#[test]
fn bench_gpu_without_a_gpu_is_a_clear_error() {
    if lockstep_gpu::Gpu::open().is_ok() {
        eprintln!("skipped: a GPU is present (this checks the no-GPU path only)");
        return;
    }
    for args in [
        &["bench", "--gpu"][..],
        &["bench"],
        &["bench", "--sweep"],
        &["bench", "--sweep", "--quick", "--runs", "3", "--json", "/tmp/x.json"],
    ] {
        let o = lockstep(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains("the GPU benchmark needs a CUDA GPU") && t.contains("bench --cpu"), "{t}");
        assert!(!t.contains("panicked"), "{t}");
    }
}

#[test]
fn bench_cpu_runs_one_shape_and_writes_json() {
    let json = std::env::temp_dir().join(format!("lockstep-bench-cpu-{}.json", std::process::id()));
    let o = lockstep(&["bench", "--cpu", "--max-m", "1", "--runs", "1", "--json", json.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["m"], 1);
    let _ = std::fs::remove_file(json);
}
