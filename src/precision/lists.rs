//! The two files ATC takes to change precision per op, read and written the way ATC does, so
//! that one file serves both compilers.
//!
//! - `--modify_mixlist` (ATC `atlasatcparam_16_0071`, AOE `aoepar_16_049`): a JSON object with
//!   `"black-list"`, `"white-list"` and `"gray-list"`, each with `"to-add"` and `"to-remove"`
//!   lists of Ascend IR op types (CANN types such as `Conv2D`). Black-listed types keep fp32,
//!   white-listed ones may drop to fp16, gray ones follow the op before them; removing a type
//!   from the black or white list makes it gray. senetc reads each CANN type as the IR op
//!   kinds it lowers to (`senetc_ge::cann::kinds_of_type`), so black-list to-add becomes
//!   `--fp16-deny`, white-list to-add `--fp16-allow`, and the moves to gray its `follow` class.
//! - `--keep_dtype` (ATC `atlasatcparam_16_0074`): a text file with one source-model op name
//!   per line, or `OpType::TypeName` lines naming an Ascend IR op type. Names match an IR node
//!   by its own name or by any framework node it stands for (`Node::sources`); types keep
//!   every op of the kinds they lower from.

use senetc_ge::cann::{kinds_of_type, mixlist_types, CannOp};
use senetc_ir::ops::OpKind;
use std::collections::BTreeSet;

/// A parsed `--modify_mixlist` file (CANN op types, as written).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mixlist {
    /// `black-list.to-add`: keep fp32.
    pub black_add: Vec<String>,
    /// `black-list.to-remove`: black to gray.
    pub black_remove: Vec<String>,
    /// `white-list.to-add`: may drop to fp16.
    pub white_add: Vec<String>,
    /// `white-list.to-remove`: white to gray.
    pub white_remove: Vec<String>,
    /// `gray-list.to-add`: follow the op before.
    pub gray_add: Vec<String>,
}

/// What a mixlist asks of senetc's fp16 classes, as IR op names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MixlistKinds {
    /// Never fp16 (`--fp16-deny`).
    pub deny: Vec<String>,
    /// Always fp16 when the mode allows it (`--fp16-allow`).
    pub allow: Vec<String>,
    /// Follow their operands.
    pub follow: Vec<String>,
}

/// Read a mixlist file's text. Unknown sections or keys are errors (a misspelt key would
/// otherwise be silently ignored).
pub fn parse_mixlist(text: &str) -> Result<Mixlist, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("the mixlist must be a JSON object with \"black-list\", \"white-list\" or \"gray-list\"")?;
    let mut m = Mixlist::default();
    for (section, body) in obj {
        if !matches!(section.as_str(), "black-list" | "white-list" | "gray-list") {
            return Err(format!("unknown section {section:?} (black-list, white-list, gray-list)"));
        }
        let lists = body.as_object().ok_or_else(|| format!("{section:?} must be an object with \"to-add\" and/or \"to-remove\""))?;
        for (key, list) in lists {
            let items: Vec<String> = list
                .as_array()
                .ok_or_else(|| format!("{section}.{key} must be a list of op types"))?
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(|| format!("{section}.{key}: {x} is not a string")))
                .collect::<Result<_, _>>()?;
            let dest = match (section.as_str(), key.as_str()) {
                ("black-list", "to-add") => &mut m.black_add,
                ("black-list", "to-remove") => &mut m.black_remove,
                ("white-list", "to-add") => &mut m.white_add,
                ("white-list", "to-remove") => &mut m.white_remove,
                ("gray-list", "to-add") => &mut m.gray_add,
                ("gray-list", "to-remove") => {
                    return Err("gray-list.to-remove: a type leaves the gray list by being added to the black or white list".into())
                }
                ("black-list" | "white-list" | "gray-list", k) => return Err(format!("{section}: unknown key {k:?} (to-add, to-remove)")),
                (s, _) => return Err(format!("unknown section {s:?} (black-list, white-list, gray-list)")),
            };
            dest.extend(items);
        }
    }
    Ok(m)
}

/// The CANN type called `name`, or every unknown name in one error.
fn cann_types(names: &[String]) -> Result<Vec<CannOp>, String> {
    let unknown: Vec<&str> = names.iter().filter(|n| CannOp::from_name(n).is_none_or(|c| kinds_of_type(c).is_empty())).map(String::as_str).collect();
    if !unknown.is_empty() {
        let known: BTreeSet<&str> = OpKind::ALL.iter().flat_map(|&k| mixlist_types(k)).map(|c| c.name()).collect();
        return Err(format!(
            "unknown CANN op type{} {} (senetc lowers to: {})",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", "),
            known.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(names.iter().filter_map(|n| CannOp::from_name(n)).collect())
}

/// The IR op names (text keywords) that CANN types stand for, sorted, each once.
pub fn kinds_of_types(names: &[String]) -> Result<Vec<String>, String> {
    let kinds: BTreeSet<&'static str> = cann_types(names)?.into_iter().flat_map(kinds_of_type).map(|k| k.name()).collect();
    Ok(kinds.into_iter().map(str::to_string).collect())
}

/// What `m` asks of the fp16 classes; unknown CANN types are an error naming them all.
pub fn mixlist_kinds(m: &Mixlist) -> Result<MixlistKinds, String> {
    let all: Vec<String> = [&m.black_add, &m.black_remove, &m.white_add, &m.white_remove, &m.gray_add].into_iter().flatten().cloned().collect();
    cann_types(&all)?;
    let follow: Vec<String> = [&m.black_remove, &m.white_remove, &m.gray_add].into_iter().flatten().cloned().collect();
    Ok(MixlistKinds { deny: kinds_of_types(&m.black_add)?, allow: kinds_of_types(&m.white_add)?, follow: kinds_of_types(&follow)? })
}

/// The CANN types of IR op kinds (by text keyword), sorted, each once: the black-list of a
/// mixlist that keeps those kinds in fp32 on Ascend.
pub fn types_of_kinds<'a>(kinds: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let types: BTreeSet<&'static str> =
        kinds.into_iter().filter_map(OpKind::from_name).flat_map(|k| mixlist_types(k).iter().map(|c| c.name())).collect();
    types.into_iter().map(str::to_string).collect()
}

/// A mixlist file that black-lists `types`.
pub fn mixlist_json(types: &[String]) -> String {
    let v = serde_json::json!({ "black-list": { "to-add": types } });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// A parsed `--keep_dtype` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepDtype {
    /// Source-model op names.
    pub names: Vec<String>,
    /// `OpType::` lines: CANN op types.
    pub types: Vec<String>,
}

/// Read a keep_dtype file's text: one name per line, `OpType::TypeName` for a type; blank
/// lines and `#` comments are skipped.
pub fn parse_keep_dtype(text: &str) -> KeepDtype {
    let mut k = KeepDtype::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        match line.strip_prefix("OpType::") {
            Some(t) => k.types.push(t.trim().to_string()),
            None => k.names.push(line.to_string()),
        }
    }
    k
}

/// A keep_dtype file keeping these names, one per line (no comments: ATC's documentation
/// shows none in the file itself).
pub fn keep_dtype_cfg(names: &[String]) -> String {
    names.iter().map(|n| format!("{n}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixlist_sections_map_to_classes() {
        let m = parse_mixlist(r#"{"black-list": {"to-add": ["SoftmaxV2", "MatMulV2"], "to-remove": ["ReduceMeanD"]}, "white-list": {"to-add": ["Sigmoid"]}}"#).unwrap();
        let k = mixlist_kinds(&m).unwrap();
        assert_eq!(k.deny, ["gemm", "matmul", "softmax"]);
        assert_eq!(k.allow, ["sigmoid"]);
        assert_eq!(k.follow, ["global_average_pool", "reduce_mean", "squeeze_excite"]);
        let round = parse_mixlist(&mixlist_json(&types_of_kinds(["conv", "gemm"]))).unwrap();
        assert_eq!(round.black_add, ["Conv2D", "DepthwiseConv2D", "MatMulV2"]);
    }

    #[test]
    fn unknown_types_and_keys_are_errors() {
        let e = mixlist_kinds(&parse_mixlist(r#"{"black-list": {"to-add": ["Conv2D", "LayerNormV9", "Data"]}}"#).unwrap()).unwrap_err();
        assert!(e.contains("\"LayerNormV9\", \"Data\""), "{e}");
        assert!(parse_mixlist(r#"{"black-list": {"to_add": []}}"#).unwrap_err().contains("to_add"));
        assert!(parse_mixlist(r#"{"blacklist": {}}"#).unwrap_err().contains("blacklist"));
        assert!(parse_mixlist("[1]").is_err());
    }

    #[test]
    fn keep_dtype_names_and_types() {
        let k = parse_keep_dtype("# comment\nfp32_vars/Relu\n\n  OpType::Relu \r\nlayer1.0/conv\n");
        assert_eq!(k.names, ["fp32_vars/Relu", "layer1.0/conv"]);
        assert_eq!(k.types, ["Relu"]);
        assert_eq!(parse_keep_dtype(&keep_dtype_cfg(&k.names)).names, k.names);
    }
}
