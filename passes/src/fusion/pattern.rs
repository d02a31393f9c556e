//! Patterns with named sub-terms, so a rule's conditions and its applier can refer to the
//! nodes it matched, not only to the leaves.
//!
//! ```text
//! ?act:(relu ?conv:(conv ?x ?w ?b))
//! ?mul:(mul ?x ?gate:(sigmoid|hard_sigmoid ?e))
//! ```
//!
//! `?name:(op operands..)` names a node; `a|b` accepts either kind (the pattern is expanded
//! into one egg `MultiPattern` per choice: one clause `?name = (op ?operand..)` per node, so
//! every interior node is bound to a variable). Unnamed nodes get a generated name.
//!
//! Patterns must be linear (each variable once): egg compiles a sub-term whose variables are
//! all bound into a hash-cons lookup, and e-nodes carry their origin in `Eq`, so a lookup of a
//! pattern node never finds a real one. Write the second occurrence under another name and
//! ask for [`super::apply::Cond::Same`].

use super::analysis::{Entry, Facts, Fusion};
use super::lang::{FNode, Sym, NO_ORIGIN};
use egg::{EGraph, Id, MultiPattern, PatternAst, RecExpr, SearchMatches, Searcher, Subst, Var};
use senetc_ir::ops::OpKind;

/// One node of a pattern: its variable, the kinds it accepts, its operands' variables.
#[derive(Clone, Debug)]
pub struct Clause {
    /// The node's variable.
    pub var: Var,
    /// Accepted kinds.
    pub kinds: Vec<OpKind>,
    /// Operand variables (a nested node's own variable).
    pub children: Vec<Var>,
}

/// A parsed pattern: its clauses, root first and parents before children, and the egg
/// multipatterns that search for it.
#[derive(Clone, Debug)]
pub struct Shape {
    /// The pattern's nodes.
    pub clauses: Vec<Clause>,
    alts: Vec<MultiPattern<FNode>>,
}

#[derive(Debug)]
enum Tok {
    Open,
    Close,
    Word(String),
}

fn lex(src: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, toks: &mut Vec<Tok>| {
        if !word.is_empty() {
            toks.push(Tok::Word(std::mem::take(word)));
        }
    };
    for c in src.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut toks);
                toks.push(if c == '(' { Tok::Open } else { Tok::Close });
            }
            c if c.is_whitespace() => flush(&mut word, &mut toks),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut toks);
    toks
}

struct Parser {
    toks: std::vec::IntoIter<Tok>,
    clauses: Vec<Clause>,
    seen: Vec<Var>,
    unnamed: usize,
}

impl Parser {
    fn var(&mut self, name: &str) -> Result<Var, String> {
        let v: Var = name.parse().map_err(|e| format!("{name:?}: {e}"))?;
        if self.seen.contains(&v) {
            return Err(format!("{name} appears twice; patterns are linear (see the module docs)"));
        }
        self.seen.push(v);
        Ok(v)
    }

    /// A term: `?leaf`, `?name:(...)` or `(...)`.
    fn term(&mut self, first: Tok) -> Result<Var, String> {
        match first {
            Tok::Word(w) => match w.split_once(':') {
                None if w.starts_with('?') => self.var(&w),
                Some((name, "")) if name.starts_with('?') => {
                    let v = self.var(name)?;
                    match self.toks.next() {
                        Some(Tok::Open) => self.node(v),
                        other => Err(format!("{name}: expected `(` after `:`, got {other:?}")),
                    }
                }
                _ => Err(format!("unexpected {w:?} (a variable `?x` or a node)")),
            },
            Tok::Open => {
                self.unnamed += 1;
                let v = self.var(&format!("?_{}", self.unnamed))?;
                self.node(v)
            }
            Tok::Close => Err("unexpected `)`".into()),
        }
    }

    /// The rest of a node after its `(`.
    fn node(&mut self, var: Var) -> Result<Var, String> {
        let Some(Tok::Word(ops)) = self.toks.next() else { return Err("expected op names after `(`".into()) };
        let kinds = ops
            .split('|')
            .map(|w| OpKind::from_name(w).ok_or_else(|| format!("`{w}` is not an op of the IR")))
            .collect::<Result<Vec<_>, _>>()?;
        let at = self.clauses.len();
        self.clauses.push(Clause { var, kinds, children: Vec::new() });
        loop {
            match self.toks.next() {
                Some(Tok::Close) => break,
                Some(t) => {
                    let child = self.term(t)?;
                    self.clauses[at].children.push(child);
                }
                None => return Err("missing `)`".into()),
            }
        }
        let c = &self.clauses[at];
        for k in &c.kinds {
            let (lo, hi) = k.arity();
            // Conv and gemm always have three operands here (`absent` pads a missing bias).
            let hi = if matches!(k, OpKind::Conv | OpKind::Gemm) { 3 } else { hi };
            if c.children.len() < lo || c.children.len() > hi {
                return Err(format!("{} takes {lo}..={hi} operands, the pattern gives {}", k.name(), c.children.len()));
            }
        }
        Ok(var)
    }
}

impl Shape {
    /// Parse a pattern (see the module docs); the root must be a node.
    pub fn parse(src: &str) -> Result<Shape, String> {
        let mut p = Parser { toks: lex(src).into_iter(), clauses: Vec::new(), seen: Vec::new(), unnamed: 0 };
        let first = p.toks.next().ok_or("empty pattern")?;
        p.term(first)?;
        if let Some(t) = p.toks.next() {
            return Err(format!("trailing {t:?}"));
        }
        if p.clauses.is_empty() {
            return Err("the root of a pattern must be a node".into());
        }
        // One multipattern per choice of kinds.
        let mut choices: Vec<Vec<OpKind>> = vec![Vec::new()];
        for c in &p.clauses {
            choices = choices.into_iter().flat_map(|pick| c.kinds.iter().map(move |&k| [pick.clone(), vec![k]].concat())).collect();
        }
        let alts = choices
            .iter()
            .map(|pick| {
                let asts = p
                    .clauses
                    .iter()
                    .zip(pick)
                    .map(|(c, &k)| {
                        let mut ast: PatternAst<FNode> = RecExpr::default();
                        let children = c.children.iter().map(|&v| ast.add(egg::ENodeOrVar::Var(v))).collect();
                        ast.add(egg::ENodeOrVar::ENode(FNode::op(k, NO_ORIGIN, children)));
                        (c.var, ast)
                    })
                    .collect();
                MultiPattern::new(asts)
            })
            .collect();
        Ok(Shape { clauses: p.clauses, alts })
    }

    /// Every variable, nodes' and leaves'.
    pub fn all_vars(&self) -> Vec<Var> {
        let mut vs: Vec<Var> = self.clauses.iter().flat_map(|c| std::iter::once(c.var).chain(c.children.iter().copied())).collect();
        vs.sort();
        vs.dedup();
        vs
    }

    /// The variables of the nodes below the root.
    pub fn interior(&self) -> impl Iterator<Item = Var> + '_ {
        self.clauses.iter().skip(1).map(|c| c.var)
    }

    /// Whether the pattern binds `v` (as a node or a leaf).
    pub fn binds(&self, v: Var) -> bool {
        self.all_vars().contains(&v)
    }
}

/// The matched e-nodes, one per clause: in the class bound to the clause's variable, the
/// node of an accepted kind whose operands are the classes bound to the operand variables.
fn identify(clauses: &[Clause], eg: &EGraph<FNode, Fusion>, subst: &Subst) -> Option<Vec<FNode>> {
    clauses
        .iter()
        .map(|c| {
            let class = *subst.get(c.var)?;
            let want: Vec<Id> = c.children.iter().map(|v| subst.get(*v).map(|&id| eg.find(id))).collect::<Option<_>>()?;
            eg[class]
                .nodes
                .iter()
                .find(|n| {
                    n.kind().is_some_and(|k| c.kinds.contains(&k))
                        && n.children.len() == want.len()
                        && n.children.iter().zip(&want).all(|(&a, &b)| eg.find(a) == b)
                })
                .cloned()
        })
        .collect()
}

impl Searcher<FNode, Fusion> for Shape {
    fn search_eclass_with_limit(&self, eg: &EGraph<FNode, Fusion>, eclass: Id, limit: usize) -> Option<SearchMatches<'_, FNode>> {
        let mut substs = Vec::new();
        for alt in &self.alts {
            if substs.len() >= limit {
                break;
            }
            if let Some(m) = alt.search_eclass_with_limit(eg, eclass, limit - substs.len()) {
                substs.extend(m.substs);
            }
        }
        (!substs.is_empty()).then_some(SearchMatches { eclass, substs, ast: None })
    }

    /// Searches only the classes that hold the root's kind (a multipattern alone would try
    /// every class).
    fn search_with_limit(&self, eg: &EGraph<FNode, Fusion>, limit: usize) -> Vec<SearchMatches<'_, FNode>> {
        let mut classes: Vec<Id> = self.clauses[0].kinds.iter().filter_map(|&k| eg.classes_for_op(&Sym::Op(k))).flatten().collect();
        classes.sort_unstable();
        classes.dedup();
        let mut found = Vec::new();
        let mut left = limit;
        for class in classes {
            if left == 0 {
                break;
            }
            if let Some(m) = self.search_eclass_with_limit(eg, class, left) {
                left -= m.substs.len().min(left);
                found.push(m);
            }
        }
        found
    }

    fn vars(&self) -> Vec<Var> {
        self.all_vars()
    }
}

/// A match with its nodes identified: what conditions and builders read.
pub struct Match<'a> {
    /// The e-graph.
    pub eg: &'a EGraph<FNode, Fusion>,
    subst: &'a Subst,
    clauses: &'a [Clause],
    nodes: Vec<FNode>,
}

impl<'a> Match<'a> {
    /// Identify the nodes of a match; `None` if some clause has no node (which egg's match
    /// guarantees it has).
    pub fn new(eg: &'a EGraph<FNode, Fusion>, subst: &'a Subst, clauses: &'a [Clause]) -> Option<Match<'a>> {
        let nodes = identify(clauses, eg, subst)?;
        Some(Match { eg, subst, clauses, nodes })
    }

    /// The class bound to `var`.
    pub fn class(&self, var: Var) -> Option<Id> {
        self.subst.get(var).map(|&id| self.eg.find(id))
    }

    /// The value facts of the class bound to `var`.
    pub fn facts(&self, var: Var) -> Option<&'a Facts> {
        self.class(var).map(|id| &self.eg[id].data)
    }

    /// The matched e-node named `var`.
    pub fn node(&self, var: Var) -> Option<&FNode> {
        self.clauses.iter().position(|c| c.var == var).map(|i| &self.nodes[i])
    }

    /// The table entry of the matched node named `var`.
    pub fn entry(&self, var: Var) -> Option<&'a Entry> {
        let origin = self.node(var)?.origin;
        self.eg.analysis.nodes.get(origin as usize)
    }

    /// The constant a class bound to `var` holds (its first constant node's entry).
    pub fn konst(&self, var: Var) -> Option<&'a Entry> {
        let id = self.class(var)?;
        self.eg[id].nodes.iter().filter(|n| n.kind() == Some(OpKind::Const)).find_map(|n| self.eg.analysis.entry(n))
    }

    /// The framework names of every matched node, in graph order (the node table lists the
    /// source graph's nodes in canonical order, which is topological): what a fused node
    /// stands for.
    pub fn sources(&self) -> Vec<String> {
        let mut origins: Vec<u32> = self.nodes.iter().map(|n| n.origin).collect();
        origins.sort_unstable();
        origins.dedup();
        let mut out: Vec<String> = Vec::new();
        for e in origins.into_iter().filter_map(|o| self.eg.analysis.nodes.get(o as usize)).filter(|e| !matches!(e.op, senetc_ir::Op::Input | senetc_ir::Op::Const(_))) {
            let names: Vec<&str> = if e.sources.is_empty() { vec![e.name.as_str()] } else { e.sources.iter().map(String::as_str).collect() };
            for s in names.into_iter().filter(|s| !s.is_empty()) {
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_string());
                }
            }
        }
        out
    }

    /// The origins of the matched nodes, in clause order: the identity of a match.
    pub fn origins(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.origin).collect()
    }
}

/// A variable by name (rule tables spell them as text).
pub fn var(name: &str) -> Var {
    name.parse().unwrap_or_else(|e| panic!("variable {name:?}: {e}"))
}
