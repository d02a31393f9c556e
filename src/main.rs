//! `senetc`: compile, inspect, run and benchmark image classifiers.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use senetc_codegen::ascend::InputFormat;
use senetc_codegen::target::{self, TargetOptions};
use senetc_ir::PrecisionMode;
use senetc::load;
use senetc::output::{write_atomic, write_atomic_with};
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
    #[command(long_about = COMPILE_ABOUT)]
    Compile(CompileArgs),
    /// Describe a model: inputs, outputs, op histogram, parameters, FLOPs, planned memory.
    Inspect(InspectArgs),
    /// Run a model on the CPU reference with .npy/.npz inputs.
    Run(RunArgs),
    /// Time inference on the CPU reference (the last line is `median_ms=<value>`).
    Bench(BenchArgs),
    /// Find the layers fp16 breaks: every node's error against fp32, alone and accumulated,
    /// and its fp16 hazards; with --fix, write the ATC lists that keep the fewest ops in fp32.
    #[command(long_about = PRECISION_ABOUT)]
    Precision(PrecisionArgs),
}

const PRECISION_ABOUT: &str = "Find the layers fp16 breaks, and write the lists that fix them.

Runs the optimized graph on the CPU reference in fp32 and in the --precision-mode's fp16
(default force_fp16, ATC's) on the same inputs and reports every node, named by the
source-model nodes behind it: its output's error against fp32 (max |diff|, relative L2,
cosine), the error it adds alone in fp16, and its fp16 hazards (inf, NaN, |x| > 65504,
subnormal values, weights beyond fp16). With real inputs it gives the outputs' top-1
agreement.

--fix DIR searches the fewest ops to keep in fp32 that bring the outputs within
--target-cos (default 0.9999) and/or --target-top1, and writes DIR/keep_dtype.cfg (ATC
--keep_dtype: those nodes) and DIR/modify_mixlist.json (ATC --modify_mixlist: their op
types). `senetc compile` takes both files (--keep-dtype FILE, --modify-mixlist FILE).";

#[derive(clap::Args)]
struct PrecisionArgs {
    /// The model file (any format senetc imports, or a weights file with --arch).
    model: Option<PathBuf>,
    /// Inputs: an .npy (one-input models) or .npz (entries by input name) per sample, or a
    /// folder of them (repeatable). Default: seeded random samples.
    #[arg(short, long = "input")]
    inputs: Vec<PathBuf>,
    /// Seed of the random samples.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of random samples.
    #[arg(long, default_value_t = 4)]
    samples: usize,
    /// Write the full analysis as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the HTML report (one self-contained file).
    #[arg(long)]
    html: Option<PathBuf>,
    /// Search the ops to keep in fp32 and write modify_mixlist.json and keep_dtype.cfg here.
    #[arg(long)]
    fix: Option<PathBuf>,
    /// Fix target: cosine similarity of every output to fp32, at least (default 0.9999).
    #[arg(long = "target-cos")]
    target_cos: Option<f64>,
    /// Fix target: top-1 agreement of every output with fp32, at least (0 to 1).
    #[arg(long = "target-top1")]
    target_top1: Option<f64>,
    /// Rows of the ranking printed.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[command(flatten)]
    opt: OptArgs,
    #[command(flatten)]
    import: ImportArgs,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The model file (.onnx, or a weights file with --arch).
    model: Option<PathBuf>,
    /// An input: `path.npy` (inputs in order), `NAME=path.npy`, or `path.npz` (entries by input name).
    /// A model without inputs takes none.
    #[arg(short, long = "input")]
    inputs: Vec<String>,
    /// Write the output here (.npy; with several outputs, NAME is added before the extension).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Execution engine: `llvm` (native code, when built in), `interp` (the CPU reference
    /// interpreter), `auto` (llvm when built in and it takes the model, else interp).
    #[arg(long, default_value = "auto")]
    engine: EngineChoice,
    #[command(flatten)]
    opt: OptArgs,
    #[command(flatten)]
    import: ImportArgs,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// The model file (.onnx, or a weights file with --arch).
    model: Option<PathBuf>,
    /// Batch size bound to the symbolic batch dim.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Timed runs.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Also print the time per op kind over the timed runs.
    #[arg(long)]
    profile: bool,
    /// Execution engine (as for `run`).
    #[arg(long, default_value = "auto")]
    engine: EngineChoice,
    #[command(flatten)]
    opt: OptArgs,
    #[command(flatten)]
    import: ImportArgs,
}

const COMPILE_ABOUT: &str = "Compile a model: import, verify, optimize, lower.

Exit codes: 0 success, 1 the model cannot be compiled, 2 bad usage or unreadable input.

Ascend: `--target ascend910 --emit om` writes an offline model holding the GE graph and the
weights (512-byte aligned), with activations in NC1HWC0 and conv filters in FRACTAL_Z. It has
no TASK_INFO and no kernels: those come from CANN's kernel compiler, so the Ascend runtime
cannot load it as is; use it to inspect, diff and check what senetc built (`senetc inspect`,
`senetc run model.om` runs it on the CPU reference, Netron opens it). For a runnable OM built
from senetc's optimized graph, `--emit air` writes the serialized GE graph that
`atc --framework=1 --model=x.air` compiles (ATC applies formats and precision itself).
`--emit json` writes what `atc --mode=1` prints for an OM; every op lists the framework nodes
it came from (`original_op_names`).";

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum LogLevel {
    /// Errors only.
    Error,
    /// Also warnings (default).
    Warning,
    /// Also a summary of what was done.
    Info,
    /// Also the effect and time of every pass.
    Debug,
}

#[derive(clap::Args, Clone)]
struct OptArgs {
    /// Optimization level: 0 (none), 1 (cleanup, constant folding, BN folding), 2 (also fusions).
    #[arg(short = 'O', default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=2))]
    opt_level: u8,
    /// Run exactly these passes, in this order (comma-separated), instead of the -O pipeline.
    #[arg(long, value_delimiter = ',')]
    passes: Option<Vec<String>>,
    /// Skip a pass (repeatable).
    #[arg(long = "disable-pass")]
    disable_pass: Vec<String>,
    /// Write the text IR after this pass (or `all`) into --dump-dir.
    #[arg(long = "dump-ir-after")]
    dump_ir_after: Option<String>,
    /// Folder for --dump-ir-after (default: the current folder).
    #[arg(long = "dump-dir")]
    dump_dir: Option<PathBuf>,
    /// Print the time and effect of every pass on stderr.
    #[arg(long = "time-passes")]
    time_passes: bool,
    /// After every pass (the verifier runs after every pass anyway), also run the graph before
    /// and after on the CPU reference with a seeded input; fail naming the pass and the first
    /// diverging node.
    #[arg(long = "verify-each")]
    verify_each: bool,
    /// force_fp32 | force_fp16 | allow_mix_precision | must_keep_origin_dtype (ATC's meanings;
    /// default: must_keep_origin_dtype on cpu, force_fp16 on ascend910).
    #[arg(long = "precision-mode")]
    precision_mode: Option<String>,
    /// Op types that always run in fp16 (comma-separated IR op names).
    #[arg(long = "fp16-allow", value_delimiter = ',')]
    fp16_allow: Vec<String>,
    /// Op types that never run in fp16.
    #[arg(long = "fp16-deny", value_delimiter = ',')]
    fp16_deny: Vec<String>,
    /// Node names that keep their original type (source-model names work on fused nodes), or
    /// an ATC --keep_dtype file: one name per line, `OpType::<CANN type>` lines by type.
    #[arg(long = "keep-dtype", value_delimiter = ',')]
    keep_dtype: Vec<String>,
    /// An ATC --modify_mixlist JSON file: black-list to-add types never run in fp16, white-list
    /// to-add types always may, to-remove and gray-list types follow their operands.
    #[arg(long = "modify-mixlist")]
    modify_mixlist: Option<PathBuf>,
}

/// The fp16 pass's settings from the flags and the ATC list files they name.
fn precision_options(o: &OptArgs, mode: PrecisionMode) -> Result<senetc_passes::PrecisionOptions> {
    use senetc::precision::lists;
    let mut p = senetc_passes::PrecisionOptions { mode, allow: o.fp16_allow.clone(), deny: o.fp16_deny.clone(), follow: vec![], keep_dtype: vec![] };
    if let Some(path) = &o.modify_mixlist {
        let text = std::fs::read_to_string(path).map_err(|e| UsageError(format!("--modify-mixlist {}: {e}", path.display())))?;
        let kinds = lists::parse_mixlist(&text).and_then(|m| lists::mixlist_kinds(&m)).map_err(|e| UsageError(format!("--modify-mixlist {}: {e}", path.display())))?;
        p.deny.extend(kinds.deny);
        p.allow.extend(kinds.allow);
        p.follow.extend(kinds.follow);
    }
    for k in &o.keep_dtype {
        let path = Path::new(k);
        if !path.is_file() {
            p.keep_dtype.push(k.clone());
            continue;
        }
        let text = std::fs::read_to_string(path).map_err(|e| UsageError(format!("--keep-dtype {}: {e}", path.display())))?;
        let file = lists::parse_keep_dtype(&text);
        p.keep_dtype.extend(file.names);
        // ATC's `OpType::` keeps every op of the type, in any mode: senetc's deny class.
        p.deny.extend(lists::kinds_of_types(&file.types).map_err(|e| UsageError(format!("--keep-dtype {}: {e}", path.display())))?);
    }
    p.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok(p)
}

/// How to read the model: settings the model file does not carry. Frontends that need
/// such settings add them here.
#[derive(clap::Args, Clone, Default)]
struct ImportArgs {
    /// TensorFlow: cut the graph at this tensor, which becomes a graph input (NAME or NAME:k; repeatable).
    #[arg(long = "input-name", value_delimiter = ',')]
    input_name: Vec<String>,
    /// TensorFlow: output this tensor (NAME or NAME:k; repeatable; default: the signature's, or detected).
    #[arg(long = "output-name", value_delimiter = ',')]
    output_name: Vec<String>,
    /// TensorFlow: pin a placeholder to a value, e.g. `--set is_training=false` (repeatable).
    #[arg(long = "set")]
    set: Vec<String>,
    /// TensorFlow: the graph (SavedModel folder or frozen .pb) a TF2 checkpoint is bound onto by name.
    #[arg(long)]
    graph: Option<PathBuf>,
    /// TensorFlow SavedModel: the signature to import (default serving_default).
    #[arg(long)]
    signature: Option<String>,
    /// TensorFlow: read variables from their ExponentialMovingAverage shadows (as eval scripts
    /// that restore ema.variables_to_restore() do).
    #[arg(long)]
    ema: bool,
    /// Build this architecture and bind a weights file (torch.save or safetensors) onto it by
    /// name; `--arch` alone lists the architectures and the one the file fits best.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    arch: Option<String>,
    /// Weights to bind by name: the file for --arch, or retrained weights replacing an ONNX
    /// model's initializers.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Input height and width of an --arch graph, "224" or "256,192" (default: the architecture's).
    #[arg(long = "input-size")]
    input_size: Option<String>,
}

impl ImportArgs {
    /// The model file and the import options: with --arch and no model, the weights file
    /// is the model. `input_shape` and `out_nodes` are ATC's flags of `compile`, which reach
    /// the importer too (they cut and bind TensorFlow graphs).
    fn resolve(&self, model: Option<&Path>, input_shape: Option<&str>, out_nodes: Option<&str>) -> Result<(PathBuf, senetc_frontends::ImportOptions)> {
        let model = match (model, &self.weights) {
            (Some(m), _) => m.to_path_buf(),
            (None, Some(w)) if self.arch.is_some() => w.clone(),
            _ => return Err(UsageError("no model given (MODEL, or --arch NAME --weights FILE)".into()).into()),
        };
        let input_size = match self.input_size.as_deref() {
            None => None,
            Some(s) => {
                let v: Vec<usize> = s.split([',', 'x']).map(|d| d.trim().parse()).collect::<Result<_, _>>().map_err(|_| UsageError(format!("bad --input-size {s:?} (want 224 or 256,192)")))?;
                match v.as_slice() {
                    [n] if *n > 0 => Some([*n, *n]),
                    [h, w] if *h > 0 && *w > 0 => Some([*h, *w]),
                    _ => return Err(UsageError(format!("bad --input-size {s:?} (want 224 or 256,192)")).into()),
                }
            }
        };
        let mut set = Vec::new();
        for s in &self.set {
            let (k, v) = s.split_once('=').ok_or_else(|| UsageError(format!("bad --set {s:?} (want NAME=VALUE)")))?;
            set.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut output_names = self.output_name.clone();
        output_names.extend(out_nodes.map(parse_out_nodes).unwrap_or_default());
        Ok((
            model,
            senetc_frontends::ImportOptions {
                weights: self.weights.clone(),
                arch: self.arch.clone(),
                input_size,
                input_names: self.input_name.clone(),
                output_names,
                input_shapes: input_shape.map(parse_input_shapes).transpose()?.unwrap_or_default(),
                set,
                graph: self.graph.clone(),
                signature: self.signature.clone(),
                ema: self.ema,
            },
        ))
    }
}

#[derive(clap::Args)]
struct CompileArgs {
    /// The model file (.onnx, or a weights file with --arch).
    model: Option<PathBuf>,
    /// Target (default: cpu).
    #[arg(long, value_parser = target_values())]
    target: Option<String>,
    /// ATC's --soc_version: Ascend910 or Ascend310 (another spelling of --target ascend910/ascend310).
    #[arg(long = "soc-version")]
    soc_version: Option<String>,
    /// Output file (default: the model's name with the emitted kind's extension, in the current folder).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// What to write (default: the target's first kind: ir on cpu, om on ascend).
    #[arg(long, value_parser = emit_values())]
    emit: Option<String>,
    /// Input shapes, as ATC's --input_shape: "name:1,3,224,224;name2:...". Binds the symbolic batch.
    #[arg(long = "input-shape")]
    input_shape: Option<String>,
    /// Layout of the 4-D inputs as fed at run time (ATC's --input_format): NCHW or NHWC.
    #[arg(long = "input-format")]
    input_format: Option<String>,
    /// Graph outputs, as ATC's --out_nodes: "node:0;node2:1" (default: the model's outputs).
    #[arg(long = "out-nodes")]
    out_nodes: Option<String>,
    /// Messages on stderr: error, warning, info, debug.
    #[arg(long, value_enum, default_value = "warning")]
    log: LogLevel,
    /// Write a JSON report (inputs, outputs, op counts, timings, warnings).
    #[arg(long)]
    report: Option<PathBuf>,
    /// No progress output even on a terminal.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    opt: OptArgs,
    #[command(flatten)]
    import: ImportArgs,
}

#[derive(clap::Args)]
struct InspectArgs {
    /// The model file (.onnx, or a weights file with --arch).
    model: Option<PathBuf>,
    /// Also list every node with its output shapes.
    #[arg(short, long)]
    verbose: bool,
    /// Batch size for FLOPs where the batch is symbolic.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[command(flatten)]
    import: ImportArgs,
}

/// Write `text` to stdout. A closed pipe (`senetc inspect model | head -1`) ends the process
/// quietly with exit code 0: the reader has all it wanted.
fn stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("senetc: error: writing to stdout: {e}");
        std::process::exit(2);
    }
}

/// `println!` through [`stdout`].
macro_rules! outln {
    ($($arg:tt)*) => { stdout(&format!("{}\n", format_args!($($arg)*))) };
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
        Cmd::Run(a) => run(a),
        Cmd::Bench(a) => bench(a),
        Cmd::Precision(a) => precision(a),
    };
    if let Err(e) = result {
        eprintln!("senetc: error: {}", senetc::message(&e));
        std::process::exit(senetc::exit_code(&e));
    }
}

/// Run the pass pipeline the options ask for.
fn optimize(g: &mut senetc_ir::Graph, o: &OptArgs, default_mode: PrecisionMode) -> Result<Vec<senetc_passes::PassRecord>> {
    let mode = match &o.precision_mode {
        Some(m) => m.parse().map_err(UsageError)?,
        None => default_mode,
    };
    let options = senetc_passes::PassOptions {
        opt_level: o.opt_level,
        passes: o.passes.clone(),
        disabled: o.disable_pass.clone(),
        dump_after: o.dump_ir_after.clone(),
        dump_dir: o.dump_dir.clone(),
        verify_each: o.verify_each,
        precision: precision_options(o, mode)?,
        limits: Default::default(),
    };
    let pm = senetc_passes::PassManager::new(options).map_err(|e| UsageError(e.to_string()))?;
    let mut check = |a: &senetc_ir::Graph, b: &senetc_ir::Graph| senetc::numeric::check(a, b);
    let records = pm.run(g, if o.verify_each { Some(&mut check) } else { None })?;
    if o.time_passes {
        print_pass_table(&records);
    }
    Ok(records)
}

fn print_pass_table(records: &[senetc_passes::PassRecord]) {
    eprintln!("{:<24} {:>9} {:>8} {:>7}  effect", "pass", "ms", "changes", "nodes");
    for r in records {
        let effect: Vec<String> = r.report.counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        eprintln!("{:<24} {:>9.2} {:>8} {:>7}  {}", r.name, r.millis, r.report.changes, r.nodes_after, effect.join(", "));
    }
}

fn default_output(model: &Path, ext: &str) -> PathBuf {
    let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    PathBuf::from(format!("{stem}.senetc.{ext}"))
}

/// What a compile had found out when it stopped: the failure report's fields.
#[derive(Default, serde::Serialize)]
struct Known {
    model: Option<String>,
    format: Option<&'static str>,
    target: Option<String>,
    emit: Option<String>,
    output: Option<String>,
}

/// `compile`; when it fails, `--report` still gets what was known and the errors (the
/// output file is left as it was).
fn compile(a: CompileArgs) -> Result<()> {
    let mut known = Known::default();
    let result = compile_model(&a, &mut known);
    if let (Err(e), Some(path)) = (&result, &a.report) {
        #[derive(serde::Serialize)]
        struct Failure<'a> {
            senetc_version: &'static str,
            #[serde(flatten)]
            known: &'a Known,
            exit_code: i32,
            errors: Vec<String>,
        }
        let f = Failure { senetc_version: env!("CARGO_PKG_VERSION"), known: &known, exit_code: senetc::exit_code(e), errors: vec![senetc::message(e)] };
        let mut json = serde_json::to_string_pretty(&f)?;
        json.push('\n');
        if let Err(w) = write_atomic(path, json.as_bytes()) {
            eprintln!("senetc: error: the report: {}", senetc::message(&w));
        }
    }
    result
}

fn compile_model(a: &CompileArgs, known: &mut Known) -> Result<()> {
    let t0 = Instant::now();
    let progress = Progress::new(a.quiet);
    let mut timings = BTreeMap::new();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let lookup = |name: &str| target::lookup(name).ok_or_else(|| UsageError(format!("unknown target {name:?} (targets: {})", target_names().join(", "))));
    // ATC's --soc-version names the chip, which is the target's name.
    let target = match (a.target.as_deref(), a.soc_version.as_deref()) {
        (Some(t), Some(soc)) if lookup(t)?.name() != lookup(soc)?.name() => {
            return Err(UsageError(format!("--target {t} and --soc-version {soc} name different targets; give one")).into());
        }
        (Some(name), _) | (None, Some(name)) => lookup(name)?,
        (None, None) => target::registry()[0],
    };
    let kind = match a.emit.as_deref() {
        None => target.emit_kinds()[0],
        Some(k) => target::emit_kind(target, k).ok_or_else(|| {
            let kinds: Vec<&str> = target.emit_kinds().iter().map(|k| k.name).collect();
            UsageError(format!("target {} cannot write {k:?} (it writes {})", target.name(), kinds.join(", ")))
        })?,
    };
    known.target = Some(target.name().to_string());
    known.emit = Some(kind.name.to_string());
    known.model = a.model.as_ref().or(a.import.weights.as_ref()).map(|m| m.display().to_string());
    let mut target_options = target_options(a)?;
    let ext = kind.ext;
    let (model, import) = a.import.resolve(a.model.as_deref(), a.input_shape.as_deref(), a.out_nodes.as_deref())?;
    let out = a.output.clone().unwrap_or_else(|| default_output(&model, ext));
    target_options.output = Some(out.clone());
    known.model = Some(model.display().to_string());
    known.output = Some(out.display().to_string());
    if out.exists() && model.exists() && same_file(&out, &model) {
        return Err(UsageError(format!("output {} would overwrite the model", out.display())).into());
    }
    progress.phase(&format!("importing {}", model.display()));
    let t = Instant::now();
    known.format = senetc_frontends::detect(&model).ok().map(|f| f.name());
    let (g, format, notes) = load::load(&model, &import)?;
    if a.log >= LogLevel::Warning {
        for w in &notes.warnings {
            eprintln!("senetc: warning: {w}");
        }
    }
    if format == senetc_frontends::Format::TensorFlow {
        // The TensorFlow importer applied them: inputs are bound and outputs chosen.
        target_options.input_shapes.clear();
        target_options.out_nodes.clear();
    }
    timings.insert("import", ms(t));
    let before = stats::op_histogram(&g).into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<String, usize>>();
    let mut g = g;
    progress.phase("optimizing");
    let t = Instant::now();
    let records = optimize(&mut g, &a.opt, target.default_precision(&kind))?;
    target_options.precision_mode = match &a.opt.precision_mode {
        Some(m) => m.parse().map_err(UsageError)?,
        None => target.default_precision(&kind),
    };
    timings.insert("optimize", ms(t));
    if a.log >= LogLevel::Warning {
        for r in &records {
            for w in &r.report.warnings {
                eprintln!("senetc: warning: {}: {w}", r.name);
            }
        }
    }
    if a.log >= LogLevel::Debug && !a.opt.time_passes {
        print_pass_table(&records);
    }
    progress.phase(&format!("checking the graph for {}", target.name()));
    let t = Instant::now();
    target.check(&g, &target_options).with_context(|| format!("{}: cannot compile for {}", model.display(), target.name()))?;
    timings.insert("check", ms(t));
    progress.phase(&format!("writing {}", out.display()));
    let t = Instant::now();
    write_atomic_with(&out, |w| Ok(target.emit(&g, &kind, &target_options, w)?))?;
    timings.insert("emit", ms(t));
    timings.insert("total", ms(t0));
    progress.done();
    if let Some(path) = &a.report {
        let (inputs, outputs) = signature(&g);
        let report = Report {
            senetc_version: env!("CARGO_PKG_VERSION"),
            model: model.display().to_string(),
            format: format.name(),
            target: target.name().to_string(),
            emit: ext.to_string(),
            output: out.display().to_string(),
            inputs,
            outputs,
            op_counts: stats::op_histogram(&g),
            nodes: stats::compute_nodes(&g),
            parameters: stats::param_count(&g),
            flops_batch1: stats::flops(&g, 1),
            timings_ms: timings,
            warnings: notes.warnings.iter().cloned().chain(records.iter().flat_map(|r| r.report.warnings.iter().map(move |w| format!("{}: {w}", r.name)))).collect(),
            import_notes: notes.notes.clone(),
            op_counts_before: before,
            passes: records
                .iter()
                .map(|r| senetc::report::PassSummary { name: r.name.to_string(), millis: r.millis, changes: r.report.changes, nodes_after: r.nodes_after, counts: r.report.counts.clone() })
                .collect(),
            fused: fused_counts(&records),
            casts_inserted: records.iter().filter_map(|r| r.report.counts.get("casts inserted")).sum(),
            fp16_weight_bytes: records.iter().filter_map(|r| r.report.counts.get("fp16 weight bytes")).sum(),
            exit_code: 0,
            errors: vec![],
        };
        let mut json = serde_json::to_string_pretty(&report)?;
        json.push('\n');
        write_atomic(path, json.as_bytes())?;
    }
    if a.log >= LogLevel::Info {
        eprintln!(
            "senetc: compiled {} for {} ({} nodes after {} passes) into {} in {:.0} ms",
            model.display(),
            target.name(),
            stats::compute_nodes(&g),
            records.len(),
            out.display(),
            ms(t0)
        );
    }
    Ok(())
}

/// The targets' options from the ATC-style flags.
fn target_options(a: &CompileArgs) -> Result<TargetOptions> {
    let input_format = match a.input_format.as_deref() {
        None | Some("NCHW") | Some("nchw") => InputFormat::Nchw,
        Some("NHWC") | Some("nhwc") => InputFormat::Nhwc,
        Some(f) => return Err(UsageError(format!("unknown --input-format {f:?} (NCHW, NHWC)")).into()),
    };
    let mut o = TargetOptions { input_format, ..TargetOptions::default() };
    let bad = |what: &str, s: &str| UsageError(format!("bad {what} {s:?}"));
    if let Some(spec) = &a.input_shape {
        for part in spec.split(';').filter(|p| !p.trim().is_empty()) {
            let (name, dims) = part.rsplit_once(':').ok_or_else(|| bad("--input-shape entry (want name:d1,d2,...)", part))?;
            let dims: Vec<usize> = dims.split(',').map(|d| d.trim().parse()).collect::<Result<_, _>>().map_err(|_| bad("--input-shape dims", part))?;
            o.input_shapes.insert(name.trim().to_string(), dims);
        }
    }
    if let Some(spec) = &a.out_nodes {
        for part in spec.split(';').filter(|p| !p.trim().is_empty()) {
            let (name, idx) = part.rsplit_once(':').ok_or_else(|| bad("--out-nodes entry (want node:index)", part))?;
            o.out_nodes.push((name.trim().to_string(), idx.trim().parse().map_err(|_| bad("--out-nodes index", part))?));
        }
    }
    Ok(o)
}

/// `--input-shape "name:1,3,224,224;name2:..."` (ATC's syntax; -1 leaves a dim dynamic).
fn parse_input_shapes(spec: &str) -> Result<Vec<(String, Vec<i64>)>> {
    let bad = |s: &str| UsageError(format!("bad --input-shape entry {s:?} (want name:d1,d2,...)"));
    spec.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let (name, dims) = part.rsplit_once(':').ok_or_else(|| bad(part))?;
            let dims = dims.split(',').map(|d| d.trim().parse::<i64>()).collect::<Result<Vec<_>, _>>().map_err(|_| bad(part))?;
            if dims.iter().any(|&d| d < -1) {
                return Err(bad(part).into());
            }
            Ok((name.trim().to_string(), dims))
        })
        .collect()
}

/// `--out-nodes "node:0;node2:1"` (ATC's syntax) as TensorFlow tensor names.
fn parse_out_nodes(spec: &str) -> Vec<String> {
    spec.split(';').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// `--target` values, from the registry.
fn target_names() -> Vec<&'static str> {
    target::registry().iter().map(|t| t.name()).collect()
}

/// `--target` values with their descriptions, for the parser and `--help`.
fn target_values() -> clap::builder::PossibleValuesParser {
    target::registry().iter().map(|t| clap::builder::PossibleValue::new(t.name()).help(t.description())).collect::<Vec<_>>().into()
}

/// `--emit` values: every kind some target writes, with the targets that write it.
fn emit_values() -> clap::builder::PossibleValuesParser {
    let mut kinds: Vec<(target::EmitKind, Vec<&str>)> = Vec::new();
    for t in target::registry() {
        for k in t.emit_kinds() {
            match kinds.iter_mut().find(|(x, _)| x.name == k.name) {
                Some((_, ts)) => ts.push(t.name()),
                None => kinds.push((*k, vec![t.name()])),
            }
        }
    }
    kinds.into_iter().map(|(k, ts)| clap::builder::PossibleValue::new(k.name).help(format!("{} ({})", k.help, ts.join(", ")))).collect::<Vec<_>>().into()
}

fn fused_counts(records: &[senetc_passes::PassRecord]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        for (k, v) in &r.report.counts {
            if let Some(what) = k.strip_prefix("fused ").or_else(|| k.strip_prefix("folded ")) {
                *m.entry(what.to_string()).or_insert(0) += v;
            }
        }
    }
    m
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn inspect(a: InspectArgs) -> Result<()> {
    let (model, import) = a.import.resolve(a.model.as_deref(), None, None)?;
    if import.arch.is_none() && matches!(senetc_frontends::detect(&model)?, senetc_frontends::Format::Torch | senetc_frontends::Format::Safetensors) {
        stdout(&senetc_frontends::torch::describe(&model)?);
        return Ok(());
    }
    let (g, format, _) = load::load(&model, &import)?;
    let mut s = String::new();
    use std::fmt::Write;
    if let Some(m) = senetc_frontends::read_ascend(&model)? {
        s.push_str(&m.describe());
        s.push('\n');
        let _ = writeln!(s, "as senetc IR (TransData, NC1HWC0, FRACTAL_Z and fp16 storage undone):");
    }
    let _ = writeln!(s, "model: {} ({}, graph {:?})", model.display(), format.name(), g.name);
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
    match planned_peak(&g, a.batch) {
        Ok((peak, naive)) => {
            let _ = writeln!(s, "planned peak (batch {}): {} intermediate bytes ({} without reuse)", a.batch, peak, naive);
        }
        Err(e) => {
            let _ = writeln!(s, "planned peak: unavailable ({e})");
        }
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
    stdout(&s);
    Ok(())
}

/// Shapes of the graph inputs with every symbol bound to `batch`.
fn input_shapes(g: &senetc_ir::Graph, batch: usize) -> Result<Vec<Vec<usize>>> {
    g.inputs()
        .iter()
        .map(|&id| {
            let t = &g.node(id).outputs[0];
            t.shape.bind(&|_| Some(batch)).as_known().ok_or_else(|| anyhow::anyhow!("input {:?} has an unknown dim", g.node(id).name))
        })
        .collect()
}

fn planned_peak(g: &senetc_ir::Graph, batch: usize) -> Result<(usize, usize)> {
    let plan = senetc_codegen::cpu::CpuPlan::new(g, &input_shapes(g, batch)?, 1)?;
    Ok((plan.peak_bytes(), plan.unplanned_bytes()))
}

/// Match the given input files to the graph inputs, checking names, shapes and dtypes.
fn gather_inputs(g: &senetc_ir::Graph, specs: &[String]) -> Result<Vec<senetc_ir::Tensor>> {
    let names: Vec<String> = g.inputs().iter().map(|&id| g.node(id).name.clone()).collect();
    let expected = || {
        g.inputs().iter().map(|&id| format!("{}: {}", g.node(id).name, g.node(id).outputs[0])).collect::<Vec<_>>().join(", ")
    };
    let mut given: Vec<Option<(senetc_ir::Tensor, String)>> = vec![None; names.len()];
    let mut next_positional = 0;
    for spec in specs {
        let (name, path) = match spec.split_once('=') {
            Some((n, p)) if !Path::new(spec).exists() => (Some(n.to_string()), PathBuf::from(p)),
            _ => (None, PathBuf::from(spec)),
        };
        let is_npz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"));
        let entries: Vec<(Option<String>, senetc_ir::Tensor)> = if is_npz {
            // Each array's header is checked against the model's inputs before its data is read.
            let accept = |name: &str, dtype: senetc_ir::DType, shape: &[usize]| -> Result<(), String> {
                let Some(i) = names.iter().position(|x| x == name) else { return Err(format!("the model has no input {name:?}; it expects {}", expected())) };
                let want = &g.node(g.inputs()[i]).outputs[0];
                let fits = shape.len() == want.rank() && want.shape.0.iter().zip(shape).all(|(d, &n)| d.known().is_none_or(|k| k == n));
                if dtype != want.dtype || !fits {
                    return Err(format!("input {name:?} expects {want}, got {dtype}{shape:?}"));
                }
                Ok(())
            };
            senetc::npy::read_npz_checked(&path, &accept).map_err(|e| UsageError(e.to_string()))?.into_iter().map(|(n, t)| (Some(n), t)).collect()
        } else {
            vec![(name, senetc::npy::read_npy(&path).map_err(|e| UsageError(e.to_string()))?)]
        };
        for (name, t) in entries {
            let idx = match name {
                Some(n) => names.iter().position(|x| *x == n).ok_or_else(|| {
                    UsageError(format!("{}: the model has no input {n:?}; it expects {}", path.display(), expected()))
                })?,
                None => {
                    let i = next_positional;
                    next_positional += 1;
                    if i >= names.len() {
                        return Err(UsageError(format!("{}: too many inputs; the model expects {}", path.display(), expected())).into());
                    }
                    i
                }
            };
            if given[idx].is_some() {
                return Err(UsageError(format!("input {:?} given twice", names[idx])).into());
            }
            given[idx] = Some((t, path.display().to_string()));
        }
    }
    let mut out = Vec::new();
    for (i, &id) in g.inputs().iter().enumerate() {
        let want = &g.node(id).outputs[0];
        let Some((t, from)) = given[i].take() else {
            return Err(UsageError(format!("input {:?} is missing; the model expects {}", names[i], expected())).into());
        };
        let fits_shape = t.shape().len() == want.rank()
            && want.shape.0.iter().zip(t.shape()).all(|(d, &n)| d.known().is_none_or(|k| k == n));
        if t.dtype() != want.dtype || !fits_shape {
            return Err(UsageError(format!(
                "input {:?} expects {want}, got {}{:?} from {from}",
                names[i],
                t.dtype(),
                t.shape()
            ))
            .into());
        }
        out.push(t);
    }
    Ok(out)
}

/// Which engine runs a model.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum EngineChoice {
    /// llvm when built in and it takes the model, else interp.
    Auto,
    /// Native code generated through LLVM.
    Llvm,
    /// The CPU reference interpreter.
    Interp,
}

/// A planned model on one of the engines.
enum Engine {
    Interp(Box<senetc_codegen::cpu::CpuPlan>),
    #[cfg(feature = "llvm")]
    Llvm(Box<senetc_codegen::native::NativePlan>),
}

impl Engine {
    fn new(choice: EngineChoice, g: &senetc_ir::Graph, shapes: &[Vec<usize>], threads: usize) -> Result<Engine> {
        #[cfg(feature = "llvm")]
        if choice != EngineChoice::Interp {
            match senetc_codegen::native::NativePlan::new(g, shapes, threads) {
                Ok(p) => return Ok(Engine::Llvm(Box::new(p))),
                Err(e) if choice == EngineChoice::Llvm => return Err(anyhow::anyhow!("the llvm engine cannot run this model: {e}")),
                Err(e) => eprintln!("senetc: note: the llvm engine cannot run this model ({e}); using the interpreter"),
            }
        }
        #[cfg(not(feature = "llvm"))]
        if choice == EngineChoice::Llvm {
            return Err(UsageError("this senetc was built without the `llvm` feature: only --engine interp is available".into()).into());
        }
        Ok(Engine::Interp(Box::new(senetc_codegen::cpu::CpuPlan::new(g, shapes, threads)?)))
    }

    fn name(&self) -> &'static str {
        match self {
            Engine::Interp(_) => "interp",
            #[cfg(feature = "llvm")]
            Engine::Llvm(_) => "llvm",
        }
    }

    fn run(&mut self, inputs: &[senetc_ir::Tensor]) -> Result<Vec<(String, senetc_ir::Tensor)>> {
        Ok(match self {
            Engine::Interp(p) => p.run(inputs)?,
            #[cfg(feature = "llvm")]
            Engine::Llvm(p) => p.run(inputs)?,
        })
    }

    fn set_profiling(&mut self, on: bool) {
        match self {
            Engine::Interp(p) => p.set_profiling(on),
            #[cfg(feature = "llvm")]
            Engine::Llvm(p) => p.set_profiling(on),
        }
    }

    fn profile(&self) -> Option<&BTreeMap<&'static str, (usize, std::time::Duration)>> {
        match self {
            Engine::Interp(p) => p.profile(),
            #[cfg(feature = "llvm")]
            Engine::Llvm(p) => p.profile(),
        }
    }

    fn peak_bytes(&self) -> usize {
        match self {
            Engine::Interp(p) => p.peak_bytes(),
            #[cfg(feature = "llvm")]
            Engine::Llvm(p) => p.peak_bytes(),
        }
    }
}

fn run(a: RunArgs) -> Result<()> {
    let (model, import) = a.import.resolve(a.model.as_deref(), None, None)?;
    let (mut g, _, _) = load::load(&model, &import)?;
    optimize(&mut g, &a.opt, PrecisionMode::MustKeepOriginDtype)?;
    let inputs = gather_inputs(&g, &a.inputs)?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let mut plan = Engine::new(a.engine, &g, &shapes, a.threads)?;
    let outputs = plan.run(&inputs)?;
    for (name, t) in &outputs {
        let v = t.to_f32();
        let argmax = v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0;
        let preview: Vec<String> = v.iter().take(5).map(|x| format!("{x:.6}")).collect();
        outln!("{name}: {}{:?} argmax(flat)={argmax} [{}{}]", t.dtype(), t.shape(), preview.join(", "), if v.len() > 5 { ", ..." } else { "" });
    }
    if let Some(path) = &a.output {
        for (name, t) in &outputs {
            let p = if outputs.len() == 1 {
                path.clone()
            } else {
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                path.with_file_name(format!("{stem}.{name}.npy"))
            };
            senetc::npy::write_npy(&p, t)?;
        }
    }
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    if a.runs == 0 || a.batch == 0 {
        return Err(UsageError("--runs and --batch must be at least 1".into()).into());
    }
    let (model, import) = a.import.resolve(a.model.as_deref(), None, None)?;
    let (mut g, _, _) = load::load(&model, &import)?;
    let t = Instant::now();
    optimize(&mut g, &a.opt, PrecisionMode::MustKeepOriginDtype)?;
    let symbolic = g.inputs().iter().any(|&id| g.node(id).outputs[0].shape.0.iter().any(|d| d.known().is_none()));
    if a.batch != 1 && !symbolic {
        return Err(UsageError(format!("{}: the model's input shapes are fixed, so --batch {} cannot apply", model.display(), a.batch)).into());
    }
    let shapes = input_shapes(&g, a.batch)?;
    let mut plan = Engine::new(a.engine, &g, &shapes, a.threads)?;
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    // Seeded inputs: the timing does not depend on values, the run must be repeatable.
    let inputs = senetc::numeric::seeded_inputs(&g, 0x2545_f491_4f6c_dd1d, a.batch).map_err(|e| anyhow::anyhow!(e))?;
    for _ in 0..a.warmup {
        plan.run(&inputs)?;
    }
    plan.set_profiling(a.profile);
    let mut times = Vec::with_capacity(a.runs);
    for _ in 0..a.runs {
        let t = Instant::now();
        plan.run(&inputs)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|x, y| x.total_cmp(y));
    let median = if times.len() % 2 == 1 { times[times.len() / 2] } else { (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0 };
    let threads = if a.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.threads };
    outln!("model: {}  batch: {}  threads: {}  runs: {} (+{} warmup)  engine: {}", model.display(), a.batch, threads, a.runs, a.warmup, plan.name());
    outln!("compile: {compile_ms:.1} ms  planned peak: {} bytes", plan.peak_bytes());
    if let Some(p) = plan.profile() {
        let total: f64 = p.values().map(|(_, d)| d.as_secs_f64()).sum();
        let mut rows: Vec<_> = p.iter().collect();
        rows.sort_by_key(|(_, (_, d))| std::cmp::Reverse(*d));
        outln!("{:<22} {:>7} {:>10} {:>6}", "op", "calls", "ms/run", "share");
        for (op, (calls, d)) in rows {
            let ms = d.as_secs_f64() * 1e3 / a.runs as f64;
            outln!("{op:<22} {:>7} {ms:>10.3} {:>5.1}%", calls / a.runs, 100.0 * d.as_secs_f64() / total);
        }
    }
    outln!("latency ms: min {:.3}  median {:.3}  max {:.3}", times[0], median, times[times.len() - 1]);
    outln!("median_ms={median:.3}");
    Ok(())
}

fn precision(a: PrecisionArgs) -> Result<()> {
    use senetc::precision::{self as prec, PrecisionError, Samples, Target};
    let usage = |e: PrecisionError| -> anyhow::Error {
        match e {
            PrecisionError::Usage(m) => UsageError(m).into(),
            other => other.into(),
        }
    };
    let mode: PrecisionMode = match &a.opt.precision_mode {
        Some(m) => m.parse().map_err(UsageError)?,
        None => PrecisionMode::ForceFp16,
    };
    if !prec::mode_uses_fp16(mode) {
        return Err(UsageError(format!("--precision-mode {mode} runs nothing in fp16: nothing to compare (force_fp16, allow_mix_precision)")).into());
    }
    if a.fix.is_none() && (a.target_cos.is_some() || a.target_top1.is_some()) {
        return Err(UsageError("--target-cos and --target-top1 need --fix DIR".into()).into());
    }
    if a.inputs.is_empty() && a.samples == 0 {
        return Err(UsageError("--samples must be at least 1".into()).into());
    }
    let t0 = Instant::now();
    let (model, import) = a.import.resolve(a.model.as_deref(), None, None)?;
    let (mut g, format, _) = load::load(&model, &import)?;
    // The fp32 graph: the same pipeline, with the fp16 pass left to the analysis.
    let fp32 = OptArgs { precision_mode: Some(PrecisionMode::MustKeepOriginDtype.name().into()), ..a.opt.clone() };
    let precision = precision_options(&a.opt, mode)?;
    optimize(&mut g, &fp32, PrecisionMode::MustKeepOriginDtype)?;
    let samples = if a.inputs.is_empty() { Samples::seeded(&g, a.seed, a.samples) } else { Samples::from_paths(&g, &a.inputs) }.map_err(usage)?;
    let cfg = prec::Config { precision, threads: a.threads };
    let analysis = prec::analyze(&g, &cfg, &samples).map_err(usage)?;
    let fix = match &a.fix {
        None => None,
        Some(dir) => {
            let target = Target { cos: a.target_cos.or(if a.target_top1.is_none() { Some(0.9999) } else { None }), top1: a.target_top1 };
            let f = prec::fix(&g, &cfg, &samples, &analysis, target).map_err(usage)?;
            prec::write_fix(dir, &f).with_context(|| format!("writing the lists into {}", dir.display()))?;
            Some(f)
        }
    };
    let model_name = model.display().to_string();
    if let Some(path) = &a.report {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            senetc_version: &'static str,
            model: &'a str,
            format: &'static str,
            #[serde(flatten)]
            analysis: &'a prec::Analysis,
            fix: Option<&'a prec::Fix>,
            total_ms: f64,
        }
        let j = Json { senetc_version: env!("CARGO_PKG_VERSION"), model: &model_name, format: format.name(), analysis: &analysis, fix: fix.as_ref(), total_ms: t0.elapsed().as_secs_f64() * 1e3 };
        let mut s = serde_json::to_string_pretty(&j)?;
        s.push('\n');
        write_atomic(path, s.as_bytes())?;
    }
    if let Some(path) = &a.html {
        write_atomic(path, prec::html::render(&model_name, &analysis, fix.as_ref()).as_bytes())?;
    }
    stdout(&prec::summary(&model_name, &analysis, fix.as_ref(), a.fix.as_deref(), a.top));
    Ok(())
}
