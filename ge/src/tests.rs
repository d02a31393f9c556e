//! The CANN op table is consistent, and lowering and read-back agree op by op.

use crate::attr::Attrs;
use crate::{from_ir, to_ir, CannOp, Desc, IrOperand, Read, ReadContext};
use senetc_ir::ops::OpKind;
use senetc_ir::ops::*;
use senetc_ir::{DType, Op, Tensor};

/// An op with `n` data inputs, none of them constant.
struct Inputs(usize);

impl ReadContext for Inputs {
    fn num_inputs(&self) -> usize {
        self.0
    }
    fn const_input(&self, k: usize) -> Result<Tensor, String> {
        Err(format!("input {k} is not a Const"))
    }
    fn output(&self, k: usize) -> Result<Desc, String> {
        Err(format!("no output desc {k}"))
    }
}

#[test]
fn names_are_unique_and_round_trip() {
    for &op in CannOp::ALL {
        assert_eq!(CannOp::from_name(op.name()), Some(op));
    }
    let mut names: Vec<&str> = CannOp::ALL.iter().map(|op| op.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CannOp::ALL.len());
    assert_eq!(CannOp::from_name("Conv3D"), None);
}

#[test]
fn every_prototype_carries_each_ir_operand_once() {
    for &op in CannOp::ALL {
        let inputs = op.inputs();
        let mut carried: Vec<usize> = inputs.iter().enumerate().filter_map(|(k, i)| i.ir_operand(k)).collect();
        carried.sort();
        assert_eq!(carried, (0..carried.len()).collect::<Vec<_>>(), "{}", op.name());
        assert_eq!(op.ir_operands(inputs.len()).map(|v| v.len()), Ok(carried.len()), "{}", op.name());
    }
    // BNInferenceD (x, mean, variance, scale, b) back to the IR's (x, scale, bias, mean, var).
    assert_eq!(CannOp::BNInferenceD.ir_operands(5), Ok(vec![0, 3, 4, 1, 2]));
    assert!(CannOp::BNInferenceD.ir_operands(3).is_err());
    // Values the IR holds as attributes are not operands; dynamic inputs all are.
    assert_eq!(CannOp::Reshape.inputs()[1].ir, IrOperand::Attr);
    assert_eq!(CannOp::Reshape.ir_operands(2), Ok(vec![0]));
    assert_eq!(CannOp::ConcatD.ir_operands(3), Ok(vec![0, 1, 2]));
    assert!(CannOp::Conv2D.is_cube() && CannOp::MatMulV2.is_cube() && !CannOp::Relu.is_cube());
}

/// The ops senetc lowers through `from_ir`, one per mapping arm.
fn one_to_one_ops() -> Vec<Op> {
    vec![
        Op::Relu(Relu {}),
        Op::Clip(Clip { min: 0.0, max: 6.0 }),
        Op::Sigmoid(Sigmoid {}),
        Op::HardSigmoid(HardSigmoid { alpha: 0.25, beta: 0.5 }),
        Op::HardSwish(HardSwish {}),
        Op::Silu(Silu {}),
        Op::Add(Add {}),
        Op::Sub(Sub {}),
        Op::Mul(Mul {}),
        Op::Div(Div {}),
        Op::Identity(Identity {}),
        Op::Cast(Cast { to: DType::F16 }),
    ]
}

fn read_back(cann: CannOp, attrs: &Attrs, n: usize) -> Op {
    match to_ir(cann, attrs, &Inputs(n)) {
        Ok(Read::Node(op, operands)) => {
            assert_eq!(operands.len(), n, "{}", cann.name());
            op
        }
        other => panic!("{}: {other:?}", cann.name()),
    }
}

#[test]
fn one_to_one_ops_read_back_as_themselves() {
    for op in one_to_one_ops() {
        let (cann, attrs) = from_ir(&op).unwrap_or_else(|| panic!("{} has no CANN op", op.name()));
        assert_eq!(read_back(cann, &attrs, op.arity().0), op);
    }
    // Spellings with one canonical form.
    assert_eq!(from_ir(&Op::Clip(Clip { min: 0.0, max: f32::INFINITY })).map(|m| m.0), Some(CannOp::Relu));
    assert_eq!(from_ir(&Op::Dropout(Dropout::default())).map(|m| m.0), Some(CannOp::Identity));
    // Other bounds need Const inputs: lowered by codegen.
    assert_eq!(from_ir(&Op::Clip(Clip { min: -1.0, max: 1.0 })), None);
}

/// Every IR op (with default attributes) that maps to one CANN op reads back as an op that
/// maps to the same CANN op and attributes: a new mapping without matching read-back fails here.
#[test]
fn every_mapped_op_reads_back_to_the_same_mapping() {
    let mut mapped = 0;
    for name in Op::NAMES {
        let mut lex = senetc_ir::text::lexer::Lexer::new("").unwrap();
        let op = Op::read(name, &mut lex).unwrap().unwrap();
        let Some((cann, attrs)) = from_ir(&op) else { continue };
        let back = read_back(cann, &attrs, op.arity().0);
        assert_eq!(from_ir(&back), Some((cann, attrs)), "{name}");
        mapped += 1;
    }
    assert!(mapped >= one_to_one_ops().len());
}

#[test]
fn fused_activations_map_as_the_ops_they_are() {
    // Every fusable activation (at its default attributes) lowers as its own op and reads
    // back; a clip with arbitrary bounds has no single CANN op (lower.rs gives it ClipByValue).
    for &kind in FusedAct::KINDS {
        let mut lex = senetc_ir::text::lexer::Lexer::new("").unwrap();
        let op = Op::read(kind.name(), &mut lex).unwrap().unwrap();
        let act = FusedAct::from_op(&op).unwrap_or_else(|| panic!("{} is not fusable", kind.name()));
        let op = act.to_op().unwrap_or_else(|| panic!("{} has no op", act.name()));
        match from_ir(&op) {
            Some((cann, attrs)) => assert_eq!(read_back(cann, &attrs, 1), op),
            None => assert_eq!(kind, OpKind::Clip, "{} has no CANN op", act.name()),
        }
    }
    let relu6 = FusedAct::relu6().to_op().unwrap();
    assert_eq!(from_ir(&relu6).map(|(c, _)| c), Some(CannOp::Relu6));
}

#[test]
fn malformed_attributes_are_errors() {
    let pool = |k: &[i64]| -> Attrs { [("ksize".to_string(), crate::attr::ints(k)), ("strides".to_string(), crate::attr::ints(&[1, 1, 1, 1])), ("pads".to_string(), crate::attr::ints(&[0, 0, 0, 0]))].into() };
    assert!(to_ir(CannOp::MaxPoolV3, &pool(&[1, 1, 2, 2]), &Inputs(1)).is_ok());
    assert!(to_ir(CannOp::MaxPoolV3, &pool(&[2, 2]), &Inputs(1)).is_err());
    assert!(to_ir(CannOp::MaxPoolV3, &pool(&[1, 1, -2, 2]), &Inputs(1)).is_err());
    assert!(to_ir(CannOp::Cast, &Attrs::new(), &Inputs(1)).is_err());
    assert!(to_ir(CannOp::Reshape, &Attrs::new(), &Inputs(2)).is_err(), "the shape must be a Const");
    assert!(matches!(to_ir(CannOp::Const, &Attrs::new(), &Inputs(0)), Ok(Read::Constant)));
}
