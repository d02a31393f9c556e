//! Where a TensorFlow model's graph and weights are, and reading them: a TF1 `.meta` with
//! its bundle (given as the `.meta`, the prefix, the folder or its `checkpoint` state file),
//! a frozen `.pb` GraphDef, a SavedModel folder (its serving signature's function graph
//! inlined, variables from `variables/`), or a TF2 checkpoint bound onto a graph given with
//! `--graph`.

use crate::bundle::{self, Bundle};
use crate::functions;
use crate::proto::{GraphDef, MetaGraphDef, SavedModel, TrackableObjectGraph};
use prost::Message;
use senetc_import::FrontendError;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What kind of file holds the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A TF1 MetaGraphDef (`.meta`) beside a tensor bundle.
    Meta,
    /// A frozen GraphDef (`.pb`): weights are Const nodes.
    Frozen,
    /// A SavedModel folder.
    SavedModel,
}

/// A model located on disk.
#[derive(Debug)]
pub enum Located {
    /// A `.meta`, with the bundle prefix beside it (if any).
    Meta {
        /// The `.meta` file.
        meta: PathBuf,
        /// The checkpoint prefix.
        prefix: Option<PathBuf>,
    },
    /// A frozen GraphDef.
    Frozen(PathBuf),
    /// A SavedModel folder.
    SavedModel(PathBuf),
    /// A checkpoint without a graph (a TF2 object-based checkpoint): needs `--graph`.
    Checkpoint(PathBuf),
}

/// A SavedModel signature: (key, tensor name) of its inputs and outputs.
#[derive(Clone, Debug, Default)]
pub struct Signature {
    /// The signature's key.
    pub key: String,
    /// Inputs: (key, graph tensor name).
    pub inputs: Vec<(String, String)>,
    /// Outputs: (key, graph tensor name).
    pub outputs: Vec<(String, String)>,
}

/// The graph and where its variables' values are.
pub struct Source {
    /// What the graph came from.
    pub kind: Kind,
    /// The graph file, for messages.
    pub file: PathBuf,
    /// The nodes, function calls inlined.
    pub nodes: Vec<crate::proto::NodeDef>,
    /// The SavedModel signature used, if any.
    pub signature: Option<Signature>,
    /// The checkpoint holding the variables (TF1 bundle or SavedModel variables).
    pub bundle: Option<Bundle>,
    /// Variable node name → (weight name, bundle key), where names are not keys (SavedModel).
    pub var_keys: HashMap<String, (String, String)>,
    /// Whether the graph is a training graph (has optimizer or gradient ops).
    pub training: bool,
    /// What loading found, for the report.
    pub notes: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FrontendError + '_ {
    move |source| FrontendError::Io { path: path.to_path_buf(), source }
}

/// Whether `path` looks like a TensorFlow model senetc reads (by names and, for `.pb`,
/// by not being something else).
pub fn recognizes(path: &Path) -> bool {
    locate(path).is_ok()
}

/// The prefix of a checkpoint whose files are `prefix.index` and `prefix.data-*`.
fn prefix_exists(p: &Path) -> bool {
    bundle::index_path(p).is_file()
}

/// Strip a suffix from a path's file name.
fn strip(path: &Path, suffix: &str) -> Option<PathBuf> {
    let s = path.to_str()?;
    s.strip_suffix(suffix).map(PathBuf::from)
}

/// Find what `path` holds.
pub fn locate(path: &Path) -> Result<Located, FrontendError> {
    let bad = |msg: String| FrontendError::decode(path, msg);
    if path.is_dir() {
        if path.join("saved_model.pb").is_file() {
            return Ok(Located::SavedModel(path.to_path_buf()));
        }
        if let Some(prefix) = state_prefix(path)? {
            return Ok(of_prefix(prefix));
        }
        let mut metas = Vec::new();
        let mut indexes = Vec::new();
        for e in std::fs::read_dir(path).map_err(io(path))?.flatten() {
            let p = e.path();
            match p.extension().and_then(|x| x.to_str()) {
                Some("meta") => metas.push(p),
                Some("index") => indexes.push(p),
                _ => {}
            }
        }
        metas.sort();
        indexes.sort();
        return match (metas.as_slice(), indexes.as_slice()) {
            ([m], _) => Ok(Located::Meta { meta: m.clone(), prefix: strip(m, ".meta").filter(|p| prefix_exists(p)) }),
            ([], [i]) => Ok(of_prefix(strip(i, ".index").unwrap_or_default())),
            ([], []) => Err(bad("a folder without saved_model.pb, checkpoint, .meta or .index: not a TensorFlow model".into())),
            _ => Err(bad(format!(
                "the folder holds several checkpoints ({}); name one (its .meta or prefix)",
                metas.iter().chain(indexes.iter()).filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect::<Vec<_>>().join(", ")
            ))),
        };
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "checkpoint" && path.is_file() {
        let dir = path.parent().unwrap_or(Path::new("."));
        return state_prefix(dir)?.map(of_prefix).ok_or_else(|| bad("the checkpoint state file names no checkpoint that exists".into()));
    }
    if name == "saved_model.pb" {
        return Ok(Located::SavedModel(path.parent().unwrap_or(Path::new(".")).to_path_buf()));
    }
    if let Some(prefix) = strip(path, ".meta") {
        if path.is_file() {
            return Ok(Located::Meta { meta: path.to_path_buf(), prefix: Some(prefix).filter(|p| prefix_exists(p)) });
        }
    }
    if let Some(prefix) = strip(path, ".index") {
        if path.is_file() {
            return Ok(of_prefix(prefix));
        }
    }
    if let Some(i) = name.find(".data-") {
        if path.is_file() {
            let prefix = path.with_file_name(&name[..i]);
            if prefix_exists(&prefix) {
                return Ok(of_prefix(prefix));
            }
        }
    }
    if matches!(path.extension().and_then(|e| e.to_str()), Some("pb") | Some("graphdef")) && path.is_file() {
        return Ok(Located::Frozen(path.to_path_buf()));
    }
    if !path.exists() && prefix_exists(path) {
        return Ok(of_prefix(path.to_path_buf()));
    }
    Err(bad("not a TensorFlow model (senetc reads a .meta, a checkpoint prefix or folder, a frozen .pb, a SavedModel folder)".into()))
}

/// A checkpoint prefix: with its `.meta` if there is one.
fn of_prefix(prefix: PathBuf) -> Located {
    let meta = bundle::with_suffix(&prefix, ".meta");
    if meta.is_file() {
        Located::Meta { meta, prefix: Some(prefix) }
    } else {
        Located::Checkpoint(prefix)
    }
}

/// The prefix the checkpoint state file of `dir` names, falling back to the folder when
/// its paths are stale.
fn state_prefix(dir: &Path) -> Result<Option<PathBuf>, FrontendError> {
    let Some(candidates) = bundle::checkpoint_state(dir) else { return Ok(None) };
    if candidates.is_empty() {
        return Ok(None);
    }
    match candidates.iter().find(|p| prefix_exists(p)) {
        Some(p) => Ok(Some(p.clone())),
        None => Err(FrontendError::decode(
            &dir.join("checkpoint"),
            format!("names {}, but neither it nor a file of that name beside the state file exists", candidates[0].display()),
        )),
    }
}

/// Decode a protobuf file without copying its tensor bytes.
fn decode<M: Message + Default>(path: &Path, what: &str) -> Result<M, FrontendError> {
    let bytes = bytes::Bytes::from(std::fs::read(path).map_err(io(path))?);
    M::decode(bytes).map_err(|e| FrontendError::decode(path, format!("not a valid {what}: {e}")))
}

/// Whether the graph trains (gradients, optimizer updates).
fn is_training_graph(nodes: &[crate::proto::NodeDef]) -> bool {
    nodes.iter().any(|n| n.op.starts_with("Apply") || n.op.starts_with("ResourceApply") || n.name.starts_with("gradients/"))
}

/// Load a located model (not a bare checkpoint: see [`load_with_graph`]).
pub fn load(loc: &Located, signature: Option<&str>) -> Result<Source, FrontendError> {
    match loc {
        Located::Meta { meta, prefix } => {
            let m: MetaGraphDef = decode(meta, "MetaGraphDef (.meta)")?;
            let mut notes = Vec::new();
            let version = m.meta_info_def.as_ref().map(|i| i.tensorflow_version.clone()).unwrap_or_default();
            let g = m.graph_def.unwrap_or_default();
            let training = is_training_graph(&g.node);
            notes.push(format!(
                "{}: MetaGraphDef of {} nodes{}{}",
                meta.display(),
                g.node.len(),
                if version.is_empty() { String::new() } else { format!(" (TensorFlow {version})") },
                if training { ", a training graph" } else { "" }
            ));
            let bundle = match prefix {
                Some(p) => Some(Bundle::open(p)?),
                None => {
                    notes.push("no checkpoint beside the .meta: variables cannot be read".into());
                    None
                }
            };
            let (nodes, calls) = functions::inline(g.node, &g.library.map(|l| l.function).unwrap_or_default()).map_err(|e| FrontendError::decode(meta, e))?;
            if calls > 0 {
                notes.push(format!("{calls} function calls inlined"));
            }
            Ok(Source { kind: Kind::Meta, file: meta.clone(), nodes, signature: None, bundle, var_keys: HashMap::new(), training, notes })
        }
        Located::Frozen(path) => {
            let g: GraphDef = decode(path, "GraphDef (.pb)")?;
            if g.node.is_empty() {
                return Err(FrontendError::decode(path, "not a GraphDef: no nodes"));
            }
            let mut notes = vec![format!("{}: frozen GraphDef of {} nodes", path.display(), g.node.len())];
            let training = is_training_graph(&g.node);
            let (nodes, calls) = functions::inline(g.node, &g.library.map(|l| l.function).unwrap_or_default()).map_err(|e| FrontendError::decode(path, e))?;
            if calls > 0 {
                notes.push(format!("{calls} function calls inlined"));
            }
            Ok(Source { kind: Kind::Frozen, file: path.clone(), nodes, signature: None, bundle: None, var_keys: HashMap::new(), training, notes })
        }
        Located::SavedModel(dir) => load_saved_model(dir, signature),
        Located::Checkpoint(prefix) => Err(FrontendError::decode(
            prefix,
            "a checkpoint without a graph (no .meta beside it): give the graph with --graph SAVEDMODEL_DIR or --graph frozen.pb",
        )),
    }
}

fn load_saved_model(dir: &Path, signature: Option<&str>) -> Result<Source, FrontendError> {
    let file = dir.join("saved_model.pb");
    let sm: SavedModel = decode(&file, "SavedModel (saved_model.pb)")?;
    let bad = |msg: String| FrontendError::decode(&file, msg);
    let mg = sm
        .meta_graphs
        .iter()
        .find(|m| m.meta_info_def.as_ref().is_some_and(|i| i.tags.iter().any(|t| t == "serve")))
        .or(sm.meta_graphs.first())
        .ok_or_else(|| bad("the SavedModel has no MetaGraph".into()))?
        .clone();
    let sigs: Vec<&String> = mg.signature_def.keys().filter(|k| !k.starts_with("__")).collect();
    let key = match signature {
        Some(s) => s.to_string(),
        None if mg.signature_def.contains_key("serving_default") => "serving_default".into(),
        None if sigs.len() == 1 => sigs[0].clone(),
        None => return Err(bad(format!("no serving_default signature; name one of: {}", sigs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")))),
    };
    let sd = mg.signature_def.get(&key).ok_or_else(|| bad(format!("no signature {key:?}; it has: {}", sigs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))))?;
    let tensor = |t: &crate::proto::TensorInfo| match &t.encoding {
        Some(crate::proto::tensor_info::Encoding::Name(n)) => Ok(n.clone()),
        None => Err(bad(format!("signature {key:?} uses a sparse or composite tensor"))),
    };
    let signature = Signature {
        key: key.clone(),
        inputs: sd.inputs.iter().map(|(k, t)| Ok((k.clone(), tensor(t)?))).collect::<Result<_, FrontendError>>()?,
        outputs: sd.outputs.iter().map(|(k, t)| Ok((k.clone(), tensor(t)?))).collect::<Result<_, FrontendError>>()?,
    };
    let g = mg.graph_def.unwrap_or_default();
    let prefix = dir.join("variables").join("variables");
    let bundle = if bundle::index_path(&prefix).is_file() { Some(Bundle::open(&prefix)?) } else { None };
    // Variables: the serving function's captured inputs are the graph's VarHandleOps; the
    // object graph says which saved object each is, the checkpoint's object graph (same
    // node ids) gives its name and key.
    let mut var_keys = HashMap::new();
    if let (Some(og), Some(b)) = (&mg.object_graph_def, &bundle) {
        let tog = object_graph(b).map_err(|e| FrontendError::decode(&bundle::index_path(&prefix), e))?;
        for n in &g.node {
            if !matches!(n.op.as_str(), "PartitionedCall" | "StatefulPartitionedCall") {
                continue;
            }
            let Some(f) = crate::graph::attr_func(n, "f") else { continue };
            let Some(cf) = og.concrete_functions.get(&f) else { continue };
            let data: Vec<&String> = n.input.iter().filter(|s| !s.starts_with('^')).collect();
            let captured = &data[data.len().saturating_sub(cf.bound_inputs.len())..];
            for (inp, &obj) in captured.iter().zip(&cf.bound_inputs) {
                let attrs = usize::try_from(obj).ok().and_then(|o| tog.nodes.get(o)).map(|t| t.attributes.as_slice()).unwrap_or(&[]);
                if let Some(a) = attrs.iter().find(|a| a.name == "VARIABLE_VALUE") {
                    let (node, _, _) = crate::graph::split_name(inp);
                    let name = if a.full_name.is_empty() { trim_key(&a.checkpoint_key) } else { a.full_name.clone() };
                    var_keys.insert(node.to_string(), (name, a.checkpoint_key.clone()));
                }
            }
        }
    }
    let (nodes, calls) = functions::inline(g.node, &g.library.map(|l| l.function).unwrap_or_default()).map_err(bad)?;
    let notes = vec![format!(
        "{}: SavedModel, signature {key:?} ({} inputs, {} outputs); {calls} function calls inlined; {} variables",
        dir.display(),
        signature.inputs.len(),
        signature.outputs.len(),
        var_keys.len()
    )];
    Ok(Source { kind: Kind::SavedModel, file, nodes, signature: Some(signature), bundle, var_keys, training: false, notes })
}

/// The object graph of a TF2 checkpoint (`_CHECKPOINTABLE_OBJECT_GRAPH`).
pub fn object_graph(b: &Bundle) -> Result<TrackableObjectGraph, String> {
    let s = b.strings("_CHECKPOINTABLE_OBJECT_GRAPH")?;
    let bytes = s.first().ok_or("empty object graph")?;
    TrackableObjectGraph::decode(bytes.as_slice()).map_err(|e| format!("bad object graph: {e}"))
}

/// A checkpoint key without its `/.ATTRIBUTES/VARIABLE_VALUE` tail.
pub fn trim_key(key: &str) -> String {
    key.trim_end_matches("/.ATTRIBUTES/VARIABLE_VALUE").to_string()
}

/// The variables of a TF2 object-based checkpoint by human-readable name (the object
/// graph's `full_name`, as Keras 2 `layer_with_weights-N/...` and Keras 3
/// `_operations/N/_kernel` keys both record it; the key path where names are missing or
/// repeated) → checkpoint key.
pub fn tf2_names(b: &Bundle) -> Result<BTreeMap<String, String>, String> {
    let og = object_graph(b)?;
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in &og.nodes {
        for a in n.attributes.iter().filter(|a| a.name == "VARIABLE_VALUE") {
            by_name.entry(a.full_name.trim_end_matches(":0").to_string()).or_default().push(a.checkpoint_key.clone());
        }
    }
    let mut out = BTreeMap::new();
    for (name, keys) in by_name {
        if keys.len() == 1 && !name.is_empty() {
            out.insert(name, keys[0].clone());
        } else {
            for k in keys {
                out.insert(trim_key(&k), k);
            }
        }
    }
    Ok(out)
}

/// The model at `graph` (a SavedModel or frozen graph), its weights to come from the TF2
/// checkpoint at `prefix`.
pub fn load_with_graph(prefix: &Path, graph: &Path, signature: Option<&str>) -> Result<(Source, Bundle), FrontendError> {
    let src = match locate(graph)? {
        l @ (Located::SavedModel(_) | Located::Frozen(_) | Located::Meta { .. }) => load(&l, signature)?,
        Located::Checkpoint(p) => return Err(FrontendError::decode(&p, "--graph must name a graph (SavedModel folder, frozen .pb or .meta), not a checkpoint")),
    };
    let b = Bundle::open(prefix)?;
    Ok((src, b))
}
