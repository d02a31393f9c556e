//! Grouped convolutions rebuilt from their split form. Frameworks without a grouped conv
//! kernel (MindSpore's SE-ResNeXt recipe, and the ONNX it exports) write one as
//! `Split(x, channels, N)` -> N convs with group 1 -> `Concat(channels)`; every frontend
//! imports the split as one `slice` per part, so the pattern reaching this pass is
//!
//! ```text
//! concat{axis=1}(b_0, .., b_N-1),  b_i = [act](  [batch_norm](  conv_i(slice_i(x), W_i[, B_i])  ))
//! ```
//!
//! and it becomes `[act]([batch_norm](conv{group=N*g}(x', W, [B])))` with the weights (and
//! biases, batch-norm parameters) concatenated along the output channels, in branch order.
//!
//! Preconditions, all checked (a concat that fails one is left alone):
//! - the concat joins the channel axis of 4-D values, with at least two branches;
//! - every branch is a slice of the same value on axis 1 with step 1, the slices are
//!   contiguous in concat order, and each is read only by its branch (x' is x itself when
//!   the slices cover all of its channels, otherwise one slice of the covered range);
//! - every conv is NCHW with constant weights of one shape and type, equal strides,
//!   dilations, pads, padding mode, group and fused activation, and all or none have a
//!   constant bias; every intermediate value has one reader;
//! - a per-branch batch norm (all branches or none) has constant parameters and one epsilon;
//!   a per-branch activation (all or none) is the same op with the same attributes.
//!
//! Not handled (left as they are): branches with other ops between the slice and the conv
//! or after the conv (pads, pooling, casts that change the type), mixed concats where only
//! some inputs are split convs, branches of unequal widths, a split on any other axis,
//! NHWC convs (the layout pass makes every conv NCHW before this pass at -O1), and groups
//! whose slices are read by anything else.

use crate::manager::PassReport;
use crate::util::{const_of, single_use};
use senetc_ir::ops::{BatchNorm, Conv, DataFormat, Slice};
use senetc_ir::{Graph, NodeId, Op, Outlet, Tensor};

/// One branch of a split group: the nodes from the slice to the value the concat reads.
struct Branch {
    slice: NodeId,
    range: (usize, usize),
    conv: NodeId,
    bn: Option<NodeId>,
    act: Option<NodeId>,
    /// Identity nodes passed through on the way (removed with the branch).
    identities: Vec<NodeId>,
}

/// Rewrite every split group of convolutions into one grouped convolution.
pub fn regroup_split_convs(g: &mut Graph, r: &mut PassReport) {
    for id in g.order() {
        if !g.contains(id) || !matches!(g.node(id).op, Op::Concat(_)) {
            continue;
        }
        if let Some(branches) = match_group(g, id) {
            if rebuild(g, id, &branches).is_some() {
                r.changes += 1;
                *r.counts.entry("regrouped split convolutions".into()).or_default() += 1;
                *r.counts.entry("convolutions merged".into()).or_default() += branches.len();
            }
        }
    }
}

/// The producer of `o`, looking through single-use identities (recorded in `skipped`).
fn through_identity(g: &Graph, mut o: Outlet, skipped: &mut Vec<NodeId>) -> Outlet {
    while matches!(g.node(o.node).op, Op::Identity(_)) && single_use(g, o) {
        skipped.push(o.node);
        o = g.inputs_of(o.node)[0];
    }
    o
}

fn match_group(g: &Graph, concat: NodeId) -> Option<Vec<Branch>> {
    let Op::Concat(c) = &g.node(concat).op else { return None };
    let out = &g.node(concat).outputs[0];
    if out.rank() != 4 || senetc_ir::ops::norm_axis(c.axis, 4).ok()? != 1 {
        return None;
    }
    let ins = g.inputs_of(concat);
    if ins.len() < 2 {
        return None;
    }
    let mut branches = Vec::with_capacity(ins.len());
    let mut source: Option<Outlet> = None;
    for o in ins {
        let mut identities = Vec::new();
        let mut o = through_identity(g, o, &mut identities);
        if !single_use(g, o) {
            return None;
        }
        let act = senetc_ir::ops::FusedAct::from_op(&g.node(o.node).op).map(|_| o.node);
        if let Some(a) = act {
            o = through_identity(g, g.inputs_of(a)[0], &mut identities);
            if !single_use(g, o) {
                return None;
            }
        }
        let bn = matches!(g.node(o.node).op, Op::BatchNorm(BatchNorm { axis: 1, .. })).then_some(o.node);
        if let Some(b) = bn {
            if !g.inputs_of(b)[1..].iter().all(|&p| const_of(g, p).is_some()) {
                return None;
            }
            o = through_identity(g, g.inputs_of(b)[0], &mut identities);
            if !single_use(g, o) {
                return None;
            }
        }
        let conv = o.node;
        let Op::Conv(cv) = &g.node(conv).op else { return None };
        if cv.format != DataFormat::Nchw {
            return None;
        }
        let cins = g.inputs_of(conv);
        if !cins[1..].iter().all(|&p| const_of(g, p).is_some()) {
            return None;
        }
        let s = through_identity(g, cins[0], &mut identities);
        let Op::Slice(sl) = &g.node(s.node).op else { return None };
        if !single_use(g, s) || sl.axes != [1] || sl.steps != [1] {
            return None;
        }
        let x = g.inputs_of(s.node)[0];
        if *source.get_or_insert(x) != x {
            return None;
        }
        let width = g.node(s.node).outputs[0].shape.0[1].known()?;
        branches.push(Branch { slice: s.node, range: (sl.starts[0], sl.starts[0] + width), conv, bn, act, identities });
    }
    same_everywhere(g, &branches).then_some(branches)
}

/// Whether the branches are parts of one grouped conv (see the module doc).
fn same_everywhere(g: &Graph, b: &[Branch]) -> bool {
    let first = &b[0];
    let conv_of = |br: &Branch| match &g.node(br.conv).op {
        Op::Conv(c) => Some(c.clone()),
        _ => None,
    };
    let Some(c0) = conv_of(first) else { return false };
    let w0 = g.outlet_type(g.inputs_of(first.conv)[1]).clone();
    let n_ins = g.inputs_of(first.conv).len();
    let bn_eps = |br: &Branch| br.bn.map(|id| match &g.node(id).op {
        Op::BatchNorm(bn) => bn.epsilon.to_bits(),
        _ => 0,
    });
    let act_op = |br: &Branch| br.act.map(|id| g.node(id).op.clone());
    for (i, br) in b.iter().enumerate() {
        if conv_of(br).as_ref() != Some(&c0)
            || *g.outlet_type(g.inputs_of(br.conv)[1]) != w0
            || g.inputs_of(br.conv).len() != n_ins
            || bn_eps(br) != bn_eps(first)
            || act_op(br) != act_op(first)
        {
            return false;
        }
        if i > 0 && b[i - 1].range.1 != br.range.0 {
            return false;
        }
    }
    // The slice width must be what one conv reads.
    let Some(ws) = w0.shape.as_known() else { return false };
    first.range.1 - first.range.0 == ws[1] * c0.group
}

fn concat_tensors(ts: &[&Tensor]) -> Option<Tensor> {
    let t0 = ts[0];
    let mut shape = t0.shape().to_vec();
    *shape.first_mut()? = ts.iter().map(|t| t.shape().first().copied().unwrap_or(1)).sum();
    let mut bytes = Vec::with_capacity(ts.iter().map(|t| t.bytes().len()).sum());
    for t in ts {
        if t.dtype() != t0.dtype() || t.shape().get(1..) != t0.shape().get(1..) {
            return None;
        }
        bytes.extend_from_slice(t.bytes());
    }
    Tensor::from_bytes(t0.dtype(), shape, bytes).ok()
}

/// The scope every node shares (`/layer1/0/conv2-GroupConv` for its per-group convs), or `fallback`.
fn common_scope(names: &[&str], fallback: &str) -> String {
    let first = names[0];
    let mut end = first.len();
    for n in &names[1..] {
        end = end.min(first.bytes().zip(n.bytes()).take_while(|(a, b)| a == b).count());
    }
    match first[..end].rfind('/') {
        Some(i) if i > 0 => first[..i].to_string(),
        _ => fallback.to_string(),
    }
}

fn rebuild(g: &mut Graph, concat: NodeId, b: &[Branch]) -> Option<()> {
    let n = b.len();
    let Op::Conv(c0) = g.node(b[0].conv).op.clone() else { return None };
    let x = g.inputs_of(b[0].slice)[0];
    let (lo, hi) = (b[0].range.0, b[n - 1].range.1);
    let full = g.outlet_type(x).shape.0[1].known()?;
    let conv_names: Vec<&str> = b.iter().map(|br| g.node(br.conv).name.as_str()).collect();
    let name = common_scope(&conv_names, &g.node(concat).name);
    let param = |g: &Graph, node: NodeId, i: usize| const_of(g, g.inputs_of(node)[i]).cloned();
    let collect = |g: &Graph, nodes: &[NodeId], i: usize| -> Option<Tensor> {
        let ts: Vec<Tensor> = nodes.iter().map(|&id| param(g, id, i)).collect::<Option<_>>()?;
        concat_tensors(&ts.iter().collect::<Vec<_>>())
    };
    let convs: Vec<NodeId> = b.iter().map(|br| br.conv).collect();
    let w = collect(g, &convs, 1)?;
    let bias = if g.inputs_of(convs[0]).len() > 2 { Some(collect(g, &convs, 2)?) } else { None };
    let bn_params = match b[0].bn {
        Some(_) => {
            let bns: Vec<NodeId> = b.iter().filter_map(|br| br.bn).collect();
            Some((1..5).map(|i| collect(g, &bns, i)).collect::<Option<Vec<Tensor>>>()?)
        }
        None => None,
    };

    // Build the replacement, then retire the branches.
    let src = if (lo, hi) == (0, full) {
        x
    } else {
        let s = Slice { axes: vec![1], starts: vec![lo], ends: vec![hi as i64], steps: vec![1] };
        g.add(format!("{name}:slice"), Op::Slice(s), &[x]).ok()?
    };
    let wo = g.add_const(format!("{name}:weight"), w);
    let mut ins = vec![src, wo];
    if let Some(bias) = bias {
        ins.push(g.add_const(format!("{name}:bias"), bias));
    }
    let op = Conv { group: c0.group * n, ..c0 };
    let mut y = g.add(name.clone(), Op::Conv(op), &ins).ok()?;
    let merged = |g: &Graph, ids: &[NodeId]| senetc_ir::merged_sources(ids.iter().map(|&id| g.node(id)));
    let s = merged(g, &convs);
    g.node_mut(y.node).set_sources(s);
    let merged_name = |g: &Graph, ids: Vec<NodeId>| {
        let names: Vec<&str> = ids.iter().map(|&id| g.node(id).name.as_str()).collect();
        common_scope(&names, names[0])
    };
    if let (Some(params), Some(bn0)) = (bn_params, b[0].bn) {
        let bn_op = g.node(bn0).op.clone();
        let bn_name = merged_name(g, b.iter().filter_map(|br| br.bn).collect());
        let mut bins = vec![y];
        for (p, suffix) in params.into_iter().zip(["scale", "bias", "mean", "var"]) {
            bins.push(g.add_const(format!("{name}:bn_{suffix}"), p));
        }
        y = g.add(bn_name, bn_op, &bins).ok()?;
        let s = merged(g, &b.iter().filter_map(|br| br.bn).collect::<Vec<_>>());
        g.node_mut(y.node).set_sources(s);
    }
    if let Some(a0) = b[0].act {
        let op = g.node(a0).op.clone();
        let act_name = merged_name(g, b.iter().filter_map(|br| br.act).collect());
        y = g.add(act_name, op, &[y]).ok()?;
        let s = merged(g, &b.iter().filter_map(|br| br.act).collect::<Vec<_>>());
        g.node_mut(y.node).set_sources(s);
    }
    g.replace_uses(Outlet::new(concat), y);
    g.remove_node(concat);
    for br in b {
        let mut doomed: Vec<NodeId> = [br.act, br.bn, Some(br.conv)].into_iter().flatten().collect();
        doomed.extend(&br.identities);
        doomed.push(br.slice);
        let params: Vec<Outlet> = doomed.iter().flat_map(|&d| g.inputs_of(d)).filter(|o| matches!(g.node(o.node).op, Op::Const(_))).collect();
        for d in doomed {
            g.remove_node(d);
        }
        for p in params {
            if g.contains(p.node) && g.consumers(p).is_empty() && !g.is_output(p) {
                g.remove_node(p.node);
            }
        }
    }
    Some(())
}
