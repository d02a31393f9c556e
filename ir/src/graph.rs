//! The graph: ops as petgraph nodes, values as (node, output slot) outlets, edges carrying
//! which output feeds which input.

use crate::ops::{Const, Op};
use crate::{IrError, Tensor, TensorType};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::BTreeMap;

/// Index of a node; stable across removals of other nodes.
pub type NodeId = NodeIndex<u32>;

/// One output of one node: a value of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Outlet {
    /// The producing node.
    pub node: NodeId,
    /// Which of its outputs.
    pub slot: usize,
}

impl Outlet {
    /// Output 0 of `node`.
    pub fn new(node: NodeId) -> Outlet {
        Outlet { node, slot: 0 }
    }
}

/// An op application.
#[derive(Clone, Debug)]
pub struct Node {
    /// Name in the source model (empty for nodes senetc made).
    pub name: String,
    /// The op and its attributes.
    pub op: Op,
    /// Types of the outputs.
    pub outputs: Vec<TensorType>,
    /// The source-model nodes this node stands for when passes merged several into it (a
    /// fused SE block's pool, products, gate and multiply; a conv and the batch norm folded
    /// into it), in graph order. Empty means just [`Node::name`]. Accuracy tools and
    /// Ascend's `original_op_names` use it to map a node back to the framework model.
    pub sources: Vec<String>,
}

impl Node {
    /// The framework names this node stands for: its sources, or its own name (nothing for
    /// an unnamed node senetc made).
    pub fn framework_names(&self) -> Vec<&str> {
        if self.sources.is_empty() {
            if self.name.is_empty() { vec![] } else { vec![self.name.as_str()] }
        } else {
            self.sources.iter().map(String::as_str).collect()
        }
    }

    /// Record the framework nodes this node stands for; a list that is just its own name is
    /// stored as empty (the common case, so nothing changes for nodes no pass merged).
    pub fn set_sources(&mut self, sources: Vec<String>) {
        self.sources = if sources.len() == 1 && sources[0] == self.name { Vec::new() } else { sources };
    }

    /// Whether `name` is this node's name or one of the framework nodes it stands for.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.sources.iter().any(|s| s == name)
    }
}

/// The framework names of several nodes merged into one, in the order given, each once:
/// what a pass that merges nodes puts in the result's [`Node::sources`].
pub fn merged_sources<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in nodes {
        for s in n.framework_names() {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
    }
    out
}

#[derive(Clone, Copy, Debug)]
struct Edge {
    src_slot: usize,
    dst_slot: usize,
}

/// A dataflow graph with named inputs and outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Graph name (the source model's).
    pub name: String,
    g: StableDiGraph<Node, Edge>,
    inputs: Vec<NodeId>,
    outputs: Vec<(String, Outlet)>,
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Graph {
        Graph { name: name.into(), ..Graph::default() }
    }

    /// Add a graph input.
    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> Outlet {
        let id = self.g.add_node(Node { name: name.into(), op: Op::Input, outputs: vec![ty], sources: Vec::new() });
        self.inputs.push(id);
        Outlet::new(id)
    }

    /// Add a constant; `name` binds it to a source weight (may be empty).
    pub fn add_const(&mut self, name: impl Into<String>, tensor: Tensor) -> Outlet {
        let c = Const { tensor, name: name.into() };
        let ty = c.tensor_type();
        let id = self.g.add_node(Node { name: c.name.clone(), op: Op::Const(c), outputs: vec![ty], sources: Vec::new() });
        Outlet::new(id)
    }

    /// Add an op node, inferring its output types; returns its first output.
    pub fn add(&mut self, name: impl Into<String>, op: Op, inputs: &[Outlet]) -> Result<Outlet, IrError> {
        Ok(Outlet::new(self.add_node(name, op, inputs)?))
    }

    /// Add an op node, inferring its output types.
    pub fn add_node(&mut self, name: impl Into<String>, op: Op, inputs: &[Outlet]) -> Result<NodeId, IrError> {
        let name = name.into();
        let outputs = self.infer_node(&name, &op, inputs)?;
        Ok(self.add_node_typed(name, op, inputs, outputs))
    }

    /// Add a node with the given output types, unchecked (the parser does this; the verifier checks).
    pub fn add_node_typed(&mut self, name: impl Into<String>, op: Op, inputs: &[Outlet], outputs: Vec<TensorType>) -> NodeId {
        let id = self.g.add_node(Node { name: name.into(), op, outputs, sources: Vec::new() });
        for (i, o) in inputs.iter().enumerate() {
            self.g.add_edge(o.node, id, Edge { src_slot: o.slot, dst_slot: i });
        }
        id
    }

    /// Check arity and infer output types of `op` applied to `inputs`.
    pub fn infer_node(&self, name: &str, op: &Op, inputs: &[Outlet]) -> Result<Vec<TensorType>, IrError> {
        let err = |msg: String| IrError::Node { node: name.to_string(), op: op.name(), msg };
        let (lo, hi) = op.arity();
        if inputs.len() < lo || inputs.len() > hi {
            return Err(err(format!("takes {lo}..={hi} inputs, got {}", inputs.len())));
        }
        let mut types = Vec::with_capacity(inputs.len());
        for (i, o) in inputs.iter().enumerate() {
            let t = self.try_outlet_type(*o).ok_or_else(|| err(format!("input {o:?} does not exist")))?;
            check_extent(&t.shape).map_err(|m| err(format!("input {i}: {m}")))?;
            types.push(t);
        }
        let outputs = op.infer(&types).map_err(err)?;
        for (i, t) in outputs.iter().enumerate() {
            check_extent(&t.shape).map_err(|m| err(format!("output {i}: {m}")))?;
        }
        Ok(outputs)
    }

    /// Declare `outlet` a graph output called `name`.
    pub fn add_output(&mut self, name: impl Into<String>, outlet: Outlet) {
        self.outputs.push((name.into(), outlet));
    }

    /// Graph input nodes, in declaration order.
    pub fn inputs(&self) -> &[NodeId] {
        &self.inputs
    }

    /// Graph outputs, in declaration order.
    pub fn outputs(&self) -> &[(String, Outlet)] {
        &self.outputs
    }

    /// The node `id` (panics on a removed id: ids come from this graph).
    pub fn node(&self, id: NodeId) -> &Node {
        &self.g[id]
    }

    /// The node `id`, mutable.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.g[id]
    }

    /// Whether `id` is a live node.
    pub fn contains(&self, id: NodeId) -> bool {
        self.g.contains_node(id)
    }

    /// Number of nodes, including inputs and constants.
    pub fn node_count(&self) -> usize {
        self.g.node_count()
    }

    /// All live node ids, in index order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.g.node_indices()
    }

    /// Type of an outlet.
    pub fn outlet_type(&self, o: Outlet) -> &TensorType {
        &self.g[o.node].outputs[o.slot]
    }

    fn try_outlet_type(&self, o: Outlet) -> Option<&TensorType> {
        self.g.node_weight(o.node).and_then(|n| n.outputs.get(o.slot))
    }

    /// The inputs of `id`, in operand order.
    pub fn inputs_of(&self, id: NodeId) -> Vec<Outlet> {
        let mut v: Vec<(usize, Outlet)> = self
            .g
            .edges_directed(id, Direction::Incoming)
            .map(|e| (e.weight().dst_slot, Outlet { node: e.source(), slot: e.weight().src_slot }))
            .collect();
        v.sort_unstable_by_key(|(s, _)| *s);
        v.into_iter().map(|(_, o)| o).collect()
    }

    /// Every (node, operand index) that reads `o`, in a stable order.
    pub fn consumers(&self, o: Outlet) -> Vec<(NodeId, usize)> {
        let mut v: Vec<(NodeId, usize)> = self
            .g
            .edges_directed(o.node, Direction::Outgoing)
            .filter(|e| e.weight().src_slot == o.slot)
            .map(|e| (e.target(), e.weight().dst_slot))
            .collect();
        v.sort_unstable();
        v
    }

    /// Whether `o` is a graph output.
    pub fn is_output(&self, o: Outlet) -> bool {
        self.outputs.iter().any(|(_, x)| *x == o)
    }

    /// Make every reader of `from` (nodes and graph outputs) read `to` instead.
    pub fn replace_uses(&mut self, from: Outlet, to: Outlet) {
        let edges: Vec<_> = self
            .g
            .edges_directed(from.node, Direction::Outgoing)
            .filter(|e| e.weight().src_slot == from.slot)
            .map(|e| (e.id(), e.target(), e.weight().dst_slot))
            .collect();
        for (e, target, dst_slot) in edges {
            self.g.remove_edge(e);
            self.g.add_edge(to.node, target, Edge { src_slot: to.slot, dst_slot });
        }
        for (_, o) in &mut self.outputs {
            if *o == from {
                *o = to;
            }
        }
    }

    /// Make operand `index` of `id` read `o`.
    pub fn set_operand(&mut self, id: NodeId, index: usize, o: Outlet) {
        let old: Vec<_> = self.g.edges_directed(id, Direction::Incoming).filter(|e| e.weight().dst_slot == index).map(|e| e.id()).collect();
        for e in old {
            self.g.remove_edge(e);
        }
        self.g.add_edge(o.node, id, Edge { src_slot: o.slot, dst_slot: index });
    }

    /// Replace graph output `index` (keeping its name).
    pub fn set_output(&mut self, index: usize, o: Outlet) {
        self.outputs[index].1 = o;
    }

    /// Remove a node and its edges; its readers are left with a missing operand, so
    /// callers remove nodes only once nothing reads them.
    pub fn remove_node(&mut self, id: NodeId) {
        self.g.remove_node(id);
        self.inputs.retain(|&i| i != id);
    }

    /// Canonical order: graph inputs, then a depth-first post-order from the outputs
    /// (operands in order), then whatever no output reaches. It depends only on the graph's
    /// structure, so equal graphs print identically whatever their node indices.
    pub fn order(&self) -> Vec<NodeId> {
        let mut seen = BTreeMap::new();
        let mut order = Vec::with_capacity(self.g.node_count());
        for &i in &self.inputs {
            seen.insert(i, ());
            order.push(i);
        }
        let mut roots: Vec<NodeId> = self.outputs.iter().map(|(_, o)| o.node).collect();
        roots.extend(self.g.node_indices());
        for root in roots {
            if seen.contains_key(&root) {
                continue;
            }
            // Iterative post-order: (node, next operand to visit).
            let mut stack = vec![(root, 0usize, self.inputs_of(root))];
            seen.insert(root, ());
            while let Some((node, next, ins)) = stack.last_mut() {
                if let Some(o) = ins.get(*next).copied() {
                    *next += 1;
                    if !seen.contains_key(&o.node) && self.g.contains_node(o.node) {
                        seen.insert(o.node, ());
                        let ins = self.inputs_of(o.node);
                        stack.push((o.node, 0, ins));
                    }
                } else {
                    order.push(*node);
                    stack.pop();
                }
            }
        }
        order
    }

    /// Nodes in an order where every node follows its operands; an error names a node on a cycle.
    pub fn topo_order(&self) -> Result<Vec<NodeId>, IrError> {
        petgraph::algo::toposort(&self.g, None).map_err(|c| {
            let n = &self.g[c.node_id()];
            IrError::Graph(format!("cycle through node {:?} ({})", n.name, n.op.name()))
        })
    }

    /// Named constants, by name: the weights a text dump refers to.
    pub fn weights(&self) -> BTreeMap<String, Tensor> {
        self.g
            .node_weights()
            .filter_map(|n| match &n.op {
                Op::Const(c) if !c.name.is_empty() => Some((c.name.clone(), c.tensor.clone())),
                _ => None,
            })
            .collect()
    }

    /// Remove nodes that no graph output depends on (graph inputs stay); returns how many.
    pub fn prune(&mut self) -> usize {
        let mut live = BTreeMap::new();
        let mut stack: Vec<NodeId> = self.outputs.iter().map(|(_, o)| o.node).collect();
        stack.extend(self.inputs.iter().copied());
        while let Some(n) = stack.pop() {
            if live.insert(n, ()).is_none() {
                stack.extend(self.inputs_of(n).into_iter().map(|o| o.node));
            }
        }
        let dead: Vec<NodeId> = self.g.node_indices().filter(|n| !live.contains_key(n)).collect();
        for &d in &dead {
            self.g.remove_node(d);
        }
        dead.len()
    }

    /// Re-run type inference over the whole graph in order, updating output types.
    pub fn reinfer(&mut self) -> Result<(), IrError> {
        for id in self.topo_order()? {
            if matches!(self.g[id].op, Op::Input) {
                continue;
            }
            let ins = self.inputs_of(id);
            let outs = self.infer_node(&self.g[id].name, &self.g[id].op, &ins)?;
            self.g[id].outputs = outs;
        }
        Ok(())
    }
}

/// Most elements a value may have: 2^48 (a petabyte of f32), far beyond any real model and
/// far from overflow, so that shape inference may multiply and add the dims of values that
/// passed this check without overflowing (dims come from model files).
pub const MAX_ELEMENTS: usize = 1 << 48;

/// Refuse a shape whose known dims hold more than [`MAX_ELEMENTS`] elements.
fn check_extent(shape: &crate::Shape) -> Result<(), String> {
    let n = shape.0.iter().filter_map(|d| d.known()).try_fold(1usize, |a, d| a.checked_mul(d));
    match n {
        Some(n) if n <= MAX_ELEMENTS => Ok(()),
        _ => Err(format!("shape {shape} has more than 2^48 elements")),
    }
}
