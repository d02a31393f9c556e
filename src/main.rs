//! `senetc`: compile, inspect, run and benchmark image classifiers.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use senetc::load;
use senetc::output::write_atomic;
use senetc::progress::Progress;
use senetc::report::{signature, Report};
use senetc::UsageError;
use senetc_ir::stats;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(name = "senetc", version, about = "Model compiler for SE-Net-family image classifiers")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile a model. Exit codes: 0 success, 1 the model cannot be compiled, 2 bad usage or unreadable input.
    Compile(CompileArgs),
    /// Describe a model: inputs, outputs, op histogram, parameters, FLOPs.
    Inspect(InspectArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Target {
    /// The CPU reference backend.
    Cpu,
    /// Huawei Ascend 910.
    Ascend910,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Emit {
    /// senetc's text IR (weights by name and content hash).
    Ir,
    /// An ONNX model (opset 17) that Netron opens and onnxruntime runs.
    Onnx,
}

#[derive(clap::Args)]
struct CompileArgs {
    /// The model file (.onnx).
    model: PathBuf,
    /// Target.
    #[arg(long, value_enum, default_value = "cpu")]
    target: Target,
    /// Output file (default: the model's name with the emitted kind's extension, in the current folder).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// What to write.
    #[arg(long, value_enum, default_value = "ir")]
    emit: Emit,
    /// Write a JSON report (inputs, outputs, op counts, timings, warnings).
    #[arg(long)]
    report: Option<PathBuf>,
    /// No progress output even on a terminal.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
struct InspectArgs {
    /// The model file (.onnx).
    model: PathBuf,
    /// Also list every node with its output shapes.
    #[arg(short, long)]
    verbose: bool,
    /// Batch size for FLOPs where the batch is symbolic.
    #[arg(long, default_value_t = 1)]
    batch: usize,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let result = match cli.cmd {
        Cmd::Compile(a) => compile(a),
        Cmd::Inspect(a) => inspect(a),
    };
    if let Err(e) = result {
        eprintln!("senetc: error: {e:#}");
        std::process::exit(senetc::exit_code(&e));
    }
}

fn default_output(model: &Path, ext: &str) -> PathBuf {
    let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    PathBuf::from(format!("{stem}.senetc.{ext}"))
}

fn compile(a: CompileArgs) -> Result<()> {
    let t0 = Instant::now();
    let progress = Progress::new(a.quiet);
    let mut timings = BTreeMap::new();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let ext = match a.emit {
        Emit::Ir => "sir",
        Emit::Onnx => "onnx",
    };
    let out = a.output.clone().unwrap_or_else(|| default_output(&a.model, ext));
    if out.exists() && a.model.exists() && same_file(&out, &a.model) {
        return Err(UsageError(format!("output {} would overwrite the model", out.display())).into());
    }
    progress.phase(&format!("importing {}", a.model.display()));
    let t = Instant::now();
    let (g, format) = load::load(&a.model)?;
    timings.insert("import", ms(t));
    progress.phase("verifying");
    let t = Instant::now();
    senetc_ir::verify(&g).with_context(|| format!("{}: the imported graph is malformed", a.model.display()))?;
    timings.insert("verify", ms(t));
    progress.phase(&format!("writing {}", out.display()));
    let t = Instant::now();
    let bytes = match a.emit {
        Emit::Ir => senetc_ir::text::print(&g).into_bytes(),
        Emit::Onnx => senetc_codegen::onnx_export::export(&g)?,
    };
    write_atomic(&out, &bytes)?;
    timings.insert("emit", ms(t));
    timings.insert("total", ms(t0));
    progress.done();
    if let Some(path) = &a.report {
        let (inputs, outputs) = signature(&g);
        let report = Report {
            senetc_version: env!("CARGO_PKG_VERSION"),
            model: a.model.display().to_string(),
            format,
            target: format!("{:?}", a.target).to_lowercase(),
            emit: ext.to_string(),
            output: out.display().to_string(),
            inputs,
            outputs,
            op_counts: stats::op_histogram(&g),
            nodes: stats::compute_nodes(&g),
            parameters: stats::param_count(&g),
            flops_batch1: stats::flops(&g, 1),
            timings_ms: timings,
            warnings: Vec::new(),
        };
        let mut json = serde_json::to_string_pretty(&report)?;
        json.push('\n');
        write_atomic(path, json.as_bytes())?;
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn inspect(a: InspectArgs) -> Result<()> {
    let (g, format) = load::load(&a.model)?;
    let mut s = String::new();
    use std::fmt::Write;
    let _ = writeln!(s, "model: {} ({:?}, graph {:?})", a.model.display(), format, g.name);
    let _ = writeln!(s, "inputs:");
    for &id in g.inputs() {
        let _ = writeln!(s, "  {} : {}", g.node(id).name, g.node(id).outputs[0]);
    }
    let _ = writeln!(s, "outputs:");
    for (name, o) in g.outputs() {
        let _ = writeln!(s, "  {} : {}", name, g.outlet_type(*o));
    }
    let params = stats::param_count(&g);
    let _ = writeln!(s, "nodes: {}", stats::compute_nodes(&g));
    let _ = writeln!(s, "parameters: {params}");
    let _ = writeln!(s, "flops: {} (batch {})", stats::flops(&g, a.batch), a.batch);
    let _ = writeln!(s, "ops:");
    for (op, n) in stats::op_histogram(&g) {
        let _ = writeln!(s, "  {op:<20} {n}");
    }
    if a.verbose {
        let _ = writeln!(s, "nodes:");
        for id in g.order() {
            let n = g.node(id);
            if matches!(n.op, senetc_ir::Op::Input | senetc_ir::Op::Const(_)) {
                continue;
            }
            let types: Vec<String> = n.outputs.iter().map(|t| t.to_string()).collect();
            let _ = writeln!(s, "  {:<16} {:<40} -> {}", n.op.name(), n.name, types.join(", "));
        }
    }
    print!("{s}");
    Ok(())
}
