//! Model loading: the frontends' entry point, with the format recorded for the report.

use anyhow::Result;
use senetc_frontends::{Format, ImportNotes, ImportOptions};
use senetc_ir::Graph;
use std::path::Path;

/// Import the model at `path` into IR (verified), with its format and the importer's notes.
pub fn load(path: &Path, options: &ImportOptions) -> Result<(Graph, Format, ImportNotes)> {
    let m = senetc_frontends::import(path, options)?;
    Ok((m.graph, m.format, m.notes))
}
