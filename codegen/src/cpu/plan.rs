//! The memory plan: every intermediate value gets a slot, and slots are reused once the
//! values in them are dead, so peak memory is near the largest live set rather than the
//! sum of all tensors. View ops (reshape, flatten, squeeze, unsqueeze, identity, dropout)
//! share their input's slot and cost nothing at run time.

use senetc_ir::{Graph, NodeId, Op, Outlet};
use std::collections::HashMap;

/// Where a value lives at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// A graph input, by position.
    Input(usize),
    /// A constant node.
    Const(NodeId),
    /// An activation slot.
    Slot(usize),
}

/// Whether `op` only reinterprets its input's elements.
pub fn is_view(op: &Op) -> bool {
    op.is_view()
}

/// The result of planning.
pub struct MemoryPlan {
    /// Home of every value.
    pub homes: HashMap<Outlet, Home>,
    /// Capacity of every slot, in elements.
    pub slots: Vec<usize>,
}

impl MemoryPlan {
    /// Plan `order` (a topological order of `g`); `elems` gives each value's element count.
    /// With `reuse` false every value keeps its own slot (to inspect intermediates).
    pub fn new(g: &Graph, order: &[NodeId], elems: &HashMap<Outlet, usize>, reuse: bool) -> MemoryPlan {
        let mut homes: HashMap<Outlet, Home> = HashMap::new();
        // Alias roots: a view's output is stored where its input is.
        let mut root: HashMap<Outlet, Outlet> = HashMap::new();
        let mut last_use: HashMap<Outlet, usize> = HashMap::new();
        for (step, &id) in order.iter().enumerate() {
            let node = g.node(id);
            let ins = g.inputs_of(id);
            for o in &ins {
                let r = *root.get(o).unwrap_or(o);
                last_use.insert(r, step);
            }
            for slot in 0..node.outputs.len() {
                let o = Outlet { node: id, slot };
                let r = if is_view(&node.op) { *root.get(&ins[0]).unwrap_or(&ins[0]) } else { o };
                root.insert(o, r);
                last_use.entry(r).or_insert(step);
            }
        }
        for (_, o) in g.outputs() {
            let r = *root.get(o).unwrap_or(o);
            last_use.insert(r, usize::MAX);
        }
        let mut slots: Vec<usize> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        let mut dies: HashMap<usize, Vec<usize>> = HashMap::new();
        let input_pos: HashMap<NodeId, usize> = g.inputs().iter().enumerate().map(|(i, &n)| (n, i)).collect();
        for (step, &id) in order.iter().enumerate() {
            let node = g.node(id);
            for slot in 0..node.outputs.len() {
                let o = Outlet { node: id, slot };
                let r = root[&o];
                let home = match &node.op {
                    Op::Input => Home::Input(input_pos[&id]),
                    Op::Const(_) => Home::Const(id),
                    _ if r != o => homes[&r],
                    _ => {
                        let need = elems.get(&o).copied().unwrap_or(0);
                        // Best fit among free slots; grow the largest one if none is big enough.
                        let pick = free
                            .iter()
                            .enumerate()
                            .filter(|(_, &s)| slots[s] >= need)
                            .min_by_key(|(_, &s)| slots[s])
                            .or_else(|| free.iter().enumerate().max_by_key(|(_, &s)| slots[s]))
                            .map(|(i, _)| i);
                        let s = match pick {
                            Some(i) => free.swap_remove(i),
                            None => {
                                slots.push(0);
                                slots.len() - 1
                            }
                        };
                        slots[s] = slots[s].max(need);
                        let end = last_use[&r];
                        if end != usize::MAX && reuse {
                            dies.entry(end.max(step)).or_default().push(s);
                        }
                        Home::Slot(s)
                    }
                };
                homes.insert(o, home);
            }
            // Slots whose last reader is this step become free after it (never during:
            // an op's output must not share memory with its operands).
            if let Some(done) = dies.remove(&step) {
                free.extend(done);
            }
        }
        MemoryPlan { homes, slots }
    }

    /// Bytes of all slots at f32.
    pub fn peak_bytes(&self) -> usize {
        self.slots.iter().sum::<usize>() * 4
    }
}
