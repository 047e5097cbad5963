//! `make bench`: measures icon_haloitsm against the goals of its benchmark issue and writes
//! `bench/RESULTS.md`. The plugin and the HaloITSM simulator run as separate processes of the
//! release binary on loopback; the load generator is this program. All three share the machine.
//!
//! Usage: bench [--bin PATH] [--out PATH] [--plg PATH] [--repeat N] [--seconds S] [--quick] [--only TEXT]
//! (`--only` runs the scenarios whose name contains TEXT.)

mod large_bodies;
mod load;
mod procs;
mod rate_limit;
mod requests;
mod scenarios;
mod webhook_ingest;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use procs::Workdir;

pub struct Ctx {
    pub bin: PathBuf,
    pub work: std::sync::Arc<Workdir>,
    /// The load generator's client.
    pub http: reqwest::Client,
    pub repeat: usize,
    pub run_for: Duration,
    pub quick: bool,
}

/// One line of the goals table.
pub struct Goal {
    pub measure: String,
    pub goal: String,
    pub result: String,
    /// None: not measured here.
    pub met: Option<bool>,
}

/// What a scenario reports: goal lines and a section of details.
#[derive(Default)]
pub struct Report {
    pub goals: Vec<Goal>,
    pub details: String,
}

impl Report {
    pub fn goal(&mut self, measure: &str, goal: &str, result: String, met: Option<bool>) {
        println!("  {measure}: {result} (goal {goal}) {}", mark(met));
        self.goals.push(Goal { measure: measure.into(), goal: goal.into(), result, met });
    }
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "not measured",
    }
}

struct Args {
    bin: PathBuf,
    out: Option<PathBuf>,
    plg: Option<PathBuf>,
    repeat: usize,
    seconds: f64,
    quick: bool,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        bin: PathBuf::from("target/release/icon_haloitsm"),
        out: None,
        plg: None,
        repeat: 3,
        seconds: 3.0,
        quick: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--bin" => a.bin = value().into(),
            "--out" => a.out = Some(value().into()),
            "--plg" => a.plg = Some(value().into()),
            "--repeat" => a.repeat = value().parse().unwrap_or_else(|_| die("--repeat takes a whole number")),
            "--seconds" => a.seconds = value().parse().unwrap_or_else(|_| die("--seconds takes a number")),
            "--quick" => a.quick = true,
            "--only" => a.only = Some(value()),
            "-h" | "--help" => {
                println!(
                    "bench [--bin target/release/icon_haloitsm] [--out bench/RESULTS.md] [--plg FILE] [--repeat 3] [--seconds 3] [--quick] [--only TEXT]"
                );
                std::process::exit(0)
            }
            other => die(&format!("unknown argument {other}")),
        }
    }
    if a.quick {
        a.repeat = 1;
        a.seconds = 1.0;
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(2)
}

fn main() {
    let a = args();
    if !a.bin.is_file() {
        die(&format!("{} is missing: build it first (cargo build --release)", a.bin.display()));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let ctx = Ctx {
        bin: std::fs::canonicalize(&a.bin).expect("the plugin binary"),
        work: std::sync::Arc::new(Workdir::new()),
        http: load::client(),
        repeat: a.repeat.max(1),
        run_for: Duration::from_secs_f64(a.seconds),
        quick: a.quick,
    };
    let mut reports = Vec::new();
    rt.block_on(async {
        for (name, scenario) in scenarios::ALL {
            if a.only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
                continue;
            }
            println!("== {name}");
            reports.push(scenario(&ctx).await);
        }
    });
    if a.only.is_none() {
        reports.push(scenarios::image_size(a.plg.as_deref()));
    }
    let md = markdown(&ctx, &reports);
    match &a.out {
        Some(path) => {
            std::fs::write(path, &md).unwrap_or_else(|e| die(&format!("cannot write {}: {e}", path.display())));
            println!("wrote {}", path.display());
        }
        None => print!("{md}"),
    }
    if reports.iter().flat_map(|r| &r.goals).any(|g| g.met == Some(false)) {
        println!("some goals were missed");
    }
}

fn markdown(ctx: &Ctx, reports: &[Report]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmark results\n");
    let _ = writeln!(
        md,
        "Written by `make bench` (`bench/`): the release binary as two processes on loopback (the plugin's \
         REST API, `icon_haloitsm http`, and the HaloITSM simulator, `icon_haloitsm simulate`), driven by \
         this harness's closed-loop load generator. All three share the machine below. Throughputs are \
         the median of {} runs of {:.0} s with the spread (min–max) of those runs; latencies are of \
         every request of all runs.{}\n",
        ctx.repeat,
        ctx.run_for.as_secs_f64(),
        if ctx.quick { " **Quick mode**: fewer and shorter runs; not for comparison." } else { "" }
    );
    let _ = writeln!(md, "## Machine\n\n{}\n", machine());
    let _ = writeln!(md, "## Goals\n\n| measure | goal | result | |\n|---|---|---|---|");
    for g in reports.iter().flat_map(|r| &r.goals) {
        let _ = writeln!(md, "| {} | {} | {} | {} |", g.measure, g.goal, g.result, mark(g.met));
    }
    let _ = writeln!(
        md,
        "\nReference: the public Python plugin on Rapid7's runtime, measured on the same kind of machine: \
         about 66 actions/s at 16 concurrent requests with p99 around 320 ms, about 0.7 s per `run`, \
         about 0.7 s from start to ready, about 110 MB resident.\n"
    );
    let _ = writeln!(md, "{}", include_str!("../NOTES.md").trim_end());
    md.push('\n');
    for r in reports {
        if !r.details.is_empty() {
            let _ = writeln!(md, "{}", r.details.trim_end());
            md.push('\n');
        }
    }
    md
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).unwrap_or("unknown").trim().to_string();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let cmd = |c: &str, args: &[&str]| {
        std::process::Command::new(c)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "- CPU: {model}, {cpus} available to this process\n- Memory: {:.1} GiB\n- Kernel: {}\n- Compiler: {}\n- Commit: {}\n- Date: {}",
        mem_kib as f64 / 1048576.0,
        cmd("uname", &["-sr"]),
        cmd("rustc", &["-V"]),
        cmd("git", &["describe", "--always", "--dirty"]),
        cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    )
}
