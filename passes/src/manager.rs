//! The pass manager: a registry of named passes with `-O` levels, pipelines chosen by
//! level or by name, and instruments (IR dumps after passes, timing, the verifier after
//! every pass, and on request a numeric check after every pass).

use crate::{cleanup, const_fold, fusion, layout, precision, PassError};
use senetc_ir::{stats, text, verify, Graph};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// A registered pass.
pub struct PassInfo {
    /// Kebab-case name, as the CLI flags and dumps show it.
    pub name: &'static str,
    /// The lowest `-O` level whose default pipeline runs it.
    pub opt_level: u8,
    /// One line for `--help` and docs.
    pub description: &'static str,
    run: fn(&mut Graph, &PassOptions, &mut PassReport) -> Result<(), PassError>,
}

/// What a pass did.
#[derive(Debug, Default, Clone)]
pub struct PassReport {
    /// Number of edits.
    pub changes: usize,
    /// Named counters ("fused squeeze_excite": 16, ...).
    pub counts: BTreeMap<String, usize>,
    /// Things the user should know (a rewrite limit was hit, ...).
    pub warnings: Vec<String>,
}

/// One pass as it ran.
#[derive(Debug, Clone)]
pub struct PassRecord {
    /// The pass.
    pub name: &'static str,
    /// What it did.
    pub report: PassReport,
    /// Wall time.
    pub millis: f64,
    /// Compute nodes after it.
    pub nodes_after: usize,
}

/// How to run the pipeline.
#[derive(Clone, Debug)]
pub struct PassOptions {
    /// `-O` level (0, 1 or 2).
    pub opt_level: u8,
    /// Run exactly these passes in this order instead of the level's pipeline.
    pub passes: Option<Vec<String>>,
    /// Skip these passes.
    pub disabled: Vec<String>,
    /// Dump the IR after this pass (`all`: after every pass).
    pub dump_after: Option<String>,
    /// Where dumps go.
    pub dump_dir: Option<PathBuf>,
    /// After every pass, also check numerically (the verifier runs after every pass anyway).
    pub verify_each: bool,
    /// Mixed precision.
    pub precision: precision::PrecisionOptions,
    /// Limits of the egg rewrite runs.
    pub limits: fusion::Limits,
}

impl Default for PassOptions {
    fn default() -> Self {
        PassOptions {
            opt_level: 2,
            passes: None,
            disabled: Vec::new(),
            dump_after: None,
            dump_dir: None,
            verify_each: false,
            precision: precision::PrecisionOptions::default(),
            limits: fusion::Limits::default(),
        }
    }
}

#[rustfmt::skip]
static REGISTRY: &[PassInfo] = &[
    PassInfo { name: "canonicalize-layout",   opt_level: 0, description: "NCHW activations and OIHW filters everywhere: NHWC ops and tf2onnx transposes become NCHW, transposes cancel", run: |g, _, r| { layout::canonicalize_layout(g, r); Ok(()) } },
    PassInfo { name: "eliminate-identity",    opt_level: 1, description: "remove identity, dropout, same-type casts and shape-preserving reshapes", run: |g, _, r| { cleanup::eliminate_identity(g, r); Ok(()) } },
    PassInfo { name: "fold-constants",        opt_level: 1, description: "evaluate ops whose operands are all constants",                          run: |g, _, r| { const_fold::fold_constants(g, r); Ok(()) } },
    PassInfo { name: "canonicalize-reshapes", opt_level: 1, description: "collapse chains of reshape/flatten/squeeze/unsqueeze into one reshape",   run: |g, _, r| { cleanup::canonicalize_reshapes(g, r); Ok(()) } },
    PassInfo { name: "regroup-split-convs",   opt_level: 1, description: "rebuild grouped convolutions written as split -> per-group convs -> concat", run: |g, _, r| { crate::regroup::regroup_split_convs(g, r); Ok(()) } },
    PassInfo { name: "fold-bn",               opt_level: 1, description: "fold batch norms and per-channel affine constants into conv and gemm",   run: |g, _, r| { crate::bn_fold::fold_bn(g, r); Ok(()) } },
    PassInfo { name: "fuse-se",               opt_level: 2, description: "fuse every squeeze-excitation variant into squeeze_excite (egg rules)",  run: |g, o, r| fusion::run_theme(g, fusion::Theme::SqueezeExcite, &o.limits, r) },
    PassInfo { name: "fuse-activations",      opt_level: 2, description: "fuse conv+activation and residual add+activation (egg rules)",           run: |g, o, r| fusion::run_theme(g, fusion::Theme::Activations, &o.limits, r) },
    PassInfo { name: "eliminate-dead-code",   opt_level: 1, description: "remove nodes no output depends on",                                   run: |g, _, r| { cleanup::eliminate_dead_code(g, r); Ok(()) } },
    PassInfo { name: "insert-fp16-casts",     opt_level: 0, description: "mixed precision per --precision-mode and the fp16 policy table",         run: |g, o, r| precision::insert_fp16_casts(g, &o.precision, r) },
];

/// Every pass, in default pipeline order.
pub fn registry() -> &'static [PassInfo] {
    REGISTRY
}

/// Compares the graph before and after a pass; `Err` describes the divergence.
pub type NumericCheck<'a> = &'a mut dyn FnMut(&Graph, &Graph) -> Result<(), String>;

/// Runs a pipeline over a graph.
pub struct PassManager {
    options: PassOptions,
    pipeline: Vec<&'static PassInfo>,
}

impl PassManager {
    /// Resolve the pipeline the options ask for.
    pub fn new(options: PassOptions) -> Result<PassManager, PassError> {
        let find = |n: &str| {
            REGISTRY.iter().find(|p| p.name == n).ok_or_else(|| {
                PassError::Options(format!("unknown pass {n:?}; passes are: {}", REGISTRY.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")))
            })
        };
        for d in &options.disabled {
            find(d)?;
        }
        if let Some(d) = options.dump_after.as_deref().filter(|d| *d != "all") {
            find(d)?;
        }
        let mut pipeline: Vec<&'static PassInfo> = match &options.passes {
            Some(names) => names.iter().map(|n| find(n)).collect::<Result<_, _>>()?,
            None => REGISTRY.iter().filter(|p| p.opt_level <= options.opt_level).collect(),
        };
        pipeline.retain(|p| !options.disabled.iter().any(|d| d == p.name));
        Ok(PassManager { options, pipeline })
    }

    /// Names of the passes that will run.
    pub fn pipeline(&self) -> Vec<&'static str> {
        self.pipeline.iter().map(|p| p.name).collect()
    }

    /// Run the pipeline. `check` (for `--verify-each`) gets the graph before and after each
    /// pass that changed it and returns a description of any numeric divergence.
    pub fn run(&self, g: &mut Graph, mut check: Option<NumericCheck<'_>>) -> Result<Vec<PassRecord>, PassError> {
        let mut records = Vec::new();
        for (i, pass) in self.pipeline.iter().enumerate() {
            let before = check.as_ref().map(|_| g.clone());
            let t = Instant::now();
            let mut report = PassReport::default();
            (pass.run)(g, &self.options, &mut report)?;
            let millis = t.elapsed().as_secs_f64() * 1e3;
            // Structural and type checks are cheap next to any pass: always on.
            verify(g).map_err(|source| PassError::Invalid { pass: pass.name.into(), source })?;
            if let (Some(check), Some(before)) = (check.as_mut(), before) {
                if report.changes > 0 {
                    check(&before, g).map_err(|detail| PassError::Numeric { pass: pass.name.into(), detail })?;
                }
            }
            if let Some(d) = &self.options.dump_after {
                if d == "all" || d == pass.name {
                    let dir = self.options.dump_dir.clone().unwrap_or_else(|| PathBuf::from("."));
                    std::fs::create_dir_all(&dir).map_err(|e| PassError::Options(format!("{}: {e}", dir.display())))?;
                    let path = dir.join(format!("{:02}-{}.sir", i + 1, pass.name));
                    std::fs::write(&path, text::print(g)).map_err(|e| PassError::Options(format!("{}: {e}", path.display())))?;
                }
            }
            records.push(PassRecord { name: pass.name, report, millis, nodes_after: stats::compute_nodes(g) });
        }
        Ok(records)
    }
}
