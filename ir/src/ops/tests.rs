//! Unit tests of the op set: attribute text, type inference and the reference evaluation
//! against hand-computed values.

use super::*;
use crate::{DType, Shape, TensorType};

fn eval(op: &Op, ins: &[(&[f32], &[usize])], out_shape: &[usize]) -> Vec<f32> {
    let views: Vec<View> = ins.iter().map(|&(data, shape)| View { data, shape }).collect();
    let mut out = vec![f32::NAN; numel(out_shape)];
    op.eval(&views, &mut out, out_shape).expect("evaluates");
    out
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "{got:?} vs {want:?}");
    }
}

#[test]
fn activations_hand_computed() {
    let xs = [-3.0f32, -1.0, 0.0, 0.5, 4.0];
    let run = |op: Op| eval(&op, &[(&xs, &[5])], &[5]);
    assert_eq!(run(Op::Relu(Relu {})), [0.0, 0.0, 0.0, 0.5, 4.0]);
    assert_eq!(run(Op::Clip(Clip { min: -1.5, max: 0.25 })), [-1.5, -1.0, 0.0, 0.25, 0.25]);
    assert_eq!(run(Op::HardSigmoid(HardSigmoid { alpha: 0.2, beta: 0.5 })), [0.0, 0.3, 0.5, 0.6, 1.0]);
    close(&run(Op::HardSwish(HardSwish {})), &[0.0, -1.0 / 3.0, 0.0, 0.5 * (0.5 / 6.0 + 0.5), 4.0]);
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let want: Vec<f32> = xs.iter().map(|&x| sig(x as f64) as f32).collect();
    close(&run(Op::Sigmoid(Sigmoid {})), &want);
    let want: Vec<f32> = xs.iter().map(|&x| (x as f64 * sig(x as f64)) as f32).collect();
    close(&run(Op::Silu(Silu {})), &want);
    assert!(run(Op::Relu(Relu {})).iter().all(|v| !v.is_nan()));
    let nan = eval(&Op::Relu(Relu {}), &[(&[f32::NAN], &[1])], &[1]);
    assert!(nan[0].is_nan(), "NaN propagates like onnxruntime");
}

#[test]
fn fused_activation_is_the_op() {
    // A conv whose epilogue is an activation computes what conv then the activation computes.
    let x: Vec<f32> = (0..2 * 3 * 3).map(|i| i as f32 * 0.3 - 2.0).collect();
    let w: Vec<f32> = (0..4 * 2).map(|i| 0.5 - i as f32 * 0.1).collect();
    for act in [FusedAct::relu6(), FusedAct::Silu(Silu {}), FusedAct::HardSigmoid(HardSigmoid { alpha: 0.3, beta: 0.4 })] {
        let fused = Op::Conv(Conv { act: act.clone(), ..Conv::default() });
        let y = eval(&fused, &[(&x, &[1, 2, 3, 3]), (&w, &[4, 2, 1, 1])], &[1, 4, 3, 3]);
        let plain = eval(&Op::Conv(Conv::default()), &[(&x, &[1, 2, 3, 3]), (&w, &[4, 2, 1, 1])], &[1, 4, 3, 3]);
        let then = eval(&act.to_op().unwrap(), &[(&plain, &[36])], &[36]);
        assert_eq!(y, then, "{act:?}");
    }
}

#[test]
fn conv_nhwc_equals_nchw() {
    // 1x2x3x3 input, 3 output channels, 2x2 kernel, SAME_UPPER.
    let x: Vec<f32> = (0..18).map(|i| (i as f32 * 0.7).sin()).collect();
    let w: Vec<f32> = (0..3 * 2 * 4).map(|i| (i as f32 * 0.3).cos()).collect();
    let conv = Conv { auto_pad: AutoPad::SameUpper, ..Conv::default() };
    let nchw = eval(&Op::Conv(conv.clone()), &[(&x, &[1, 2, 3, 3]), (&w, &[3, 2, 2, 2])], &[1, 3, 3, 3]);
    let mut xt = vec![0.0; 18];
    senetc_kernels::layout::transpose(&x, &[1, 2, 3, 3], &[0, 2, 3, 1], &mut xt);
    let nhwc = eval(&Op::Conv(Conv { format: DataFormat::Nhwc, ..conv }), &[(&xt, &[1, 3, 3, 2]), (&w, &[3, 2, 2, 2])], &[1, 3, 3, 3]);
    let mut back = vec![0.0; 27];
    senetc_kernels::layout::transpose(&nhwc, &[1, 3, 3, 3], &[0, 3, 1, 2], &mut back);
    close(&back, &nchw);
}

#[test]
fn slice_hand_computed() {
    // [2,5] -> rows all, columns 1, 3 (start 1, end 5, step 2).
    let x: Vec<f32> = (0..10).map(|i| i as f32).collect();
    let s = Op::Slice(Slice { axes: vec![1], starts: vec![1], ends: vec![5], steps: vec![2] });
    let t = TensorType::new(DType::F32, Shape::known(&[2, 5]));
    assert_eq!(s.infer(&[&t]).unwrap()[0].shape, Shape::known(&[2, 2]));
    assert_eq!(eval(&s, &[(&x, &[2, 5])], &[2, 2]), [1.0, 3.0, 6.0, 8.0]);
    // Channels 2..4 of an NCHW tensor: what a split into groups reads.
    let x: Vec<f32> = (0..8).map(|i| i as f32).collect();
    let s = Op::Slice(Slice { axes: vec![1], starts: vec![2], ends: vec![4], steps: vec![1] });
    assert_eq!(eval(&s, &[(&x, &[1, 4, 1, 2])], &[1, 2, 1, 2]), [4.0, 5.0, 6.0, 7.0]);
}

#[test]
fn squeeze_excite_matches_its_definition() {
    // n=1, c=2, hw=2, cr=1: pooled [2, 5]; hidden relu(2 - 5 + 4) = 1; gate sigmoid([2, 0]).
    let se = Op::SqueezeExcite(SqueezeExcite::default());
    let y = eval(&se, &[(&[1.0, 3.0, 4.0, 6.0], &[1, 2, 1, 2]), (&[1.0, -1.0], &[1, 2]), (&[4.0], &[1]), (&[2.0, -1.0], &[2, 1]), (&[0.0, 1.0], &[2])], &[1, 2, 1, 2]);
    let s2 = 1.0 / (1.0 + (-2.0f32).exp());
    close(&y, &[s2, 3.0 * s2, 2.0, 3.0]);
}

#[test]
fn text_omits_default_attributes() {
    let mut s = String::new();
    Conv::default().write_attrs(&mut s);
    assert_eq!(s, "");
    Conv { group: 2, act: FusedAct::relu6(), ..Conv::default() }.write_attrs(&mut s);
    assert_eq!(s, " {group=2, act=clip{min=0.0, max=6.0}}");
    let mut lex = crate::text::lexer::Lexer::new(&s).unwrap();
    let back = Conv::read_attrs(&mut lex).unwrap();
    assert_eq!(back, Conv { group: 2, act: FusedAct::relu6(), ..Conv::default() });
}

#[test]
fn every_op_declares_its_facts() {
    // Names are unique and round-trip through the kind table.
    for &k in OpKind::ALL {
        assert_eq!(OpKind::from_name(k.name()), Some(k));
    }
    assert_eq!(Op::NAMES.len() + 2, OpKind::ALL.len());
    assert_eq!(Op::Conv(Conv::default()).precision(), Precision::CUBE);
    assert_eq!(Op::Softmax(Softmax::default()).precision().fp16, Fp16::Never);
    assert_eq!(Op::Relu(Relu {}).precision().fp16, Fp16::Follow);
    assert!(Op::Reshape(Reshape::default()).is_view() && !Op::Transpose(Transpose::default()).is_view());
    // A 3x3 conv of 4 -> 8 channels over an 8x8 output with bias: 2*64*8*36 + 64*8.
    assert_eq!(Op::Conv(Conv::default()).flops(&[&[1, 4, 10, 10], &[8, 4, 3, 3], &[8]], &[1, 8, 8, 8]), 2 * 512 * 36 + 512);
}

#[test]
fn clip_with_min_above_max_gives_max() {
    let xs = [-3.0f32, 0.0, 1.5, 4.0, f32::NAN];
    let y = eval(&Op::Clip(Clip { min: 2.0, max: 1.0 }), &[(&xs, &[5])], &[5]);
    assert_eq!(&y[..4], [1.0, 1.0, 1.0, 1.0]);
    assert!(y[4].is_nan());
}

#[test]
fn pooling_over_one_and_three_axes() {
    let t = |shape: &[usize]| TensorType::new(DType::F32, Shape::known(shape));
    let p1 = AveragePool { kernel: vec![3], strides: vec![2], pads: vec![1, 1], dilations: vec![2], count_include_pad: true, ..Default::default() };
    assert_eq!(p1.infer(&[&t(&[1, 2, 9])]).unwrap()[0], t(&[1, 2, 4]));
    // x = 0..9: windows at -1,1,3 / 1,3,5 / 3,5,7 / 5,7,9 (pads count, 9 is the end pad).
    let x: Vec<f32> = (0..9).map(|v| v as f32).collect();
    close(&eval(&Op::AveragePool(p1), &[(&x, &[1, 1, 9])], &[1, 1, 4]), &[4.0 / 3.0, 3.0, 5.0, 12.0 / 3.0]);
    let m3 = MaxPool { kernel: vec![2, 2, 2], strides: vec![2, 2, 2], dilations: vec![1; 3], pads: vec![0; 6], ..Default::default() };
    assert_eq!(m3.infer(&[&t(&[1, 1, 4, 4, 4])]).unwrap()[0], t(&[1, 1, 2, 2, 2]));
    let x: Vec<f32> = (0..64).map(|v| v as f32).collect();
    assert_eq!(eval(&Op::MaxPool(m3.clone()), &[(&x, &[1, 1, 4, 4, 4])], &[1, 1, 2, 2, 2]), [21.0, 23.0, 29.0, 31.0, 53.0, 55.0, 61.0, 63.0]);
    assert!(m3.infer(&[&t(&[1, 1, 4, 4])]).is_err(), "a 3-D kernel needs a 5-D input");
    let gap = GlobalAveragePool::default();
    assert_eq!(gap.infer(&[&t(&[2, 3, 4, 5, 6])]).unwrap()[0], t(&[2, 3, 1, 1, 1]));
    assert_eq!(gap.infer(&[&t(&[2, 3, 7])]).unwrap()[0], t(&[2, 3, 1]));
    let mut text = String::new();
    Op::AveragePool(AveragePool { kernel: vec![3], strides: vec![1], pads: vec![0, 0], dilations: vec![2], ..Default::default() }).write_attrs(&mut text);
    assert_eq!(text, " {kernel=[3], strides=[1], pads=[0,0], dilations=[2]}");
}

#[test]
fn reshape_allowzero_of_an_empty_tensor() {
    let r = Reshape { shape: vec![3, 4, 0], allowzero: true };
    assert_eq!(r.output_shape(&Shape::known(&[0, 3, 4])).unwrap(), Shape::known(&[3, 4, 0]));
    assert!(r.output_shape(&Shape::known(&[1, 3, 4])).is_err(), "12 elements are not 0");
    assert!(Reshape { shape: vec![0, -1], allowzero: true }.output_shape(&Shape::known(&[0, 3])).is_err(), "-1 next to a 0 extent");
    assert_eq!(Reshape { shape: vec![0, 12], allowzero: false }.output_shape(&Shape::known(&[0, 3, 4])).unwrap(), Shape::known(&[0, 12]));
}

#[test]
fn gather_takes_along_an_axis() {
    let t = |dt, shape: &[usize]| TensorType::new(dt, Shape::known(shape));
    let g = Gather { axis: 1 };
    assert_eq!(g.infer(&[&t(DType::F32, &[2, 3]), &t(DType::I64, &[2, 2])]).unwrap()[0], t(DType::F32, &[2, 2, 2]));
    assert!(g.infer(&[&t(DType::F32, &[2, 3]), &t(DType::F32, &[2])]).is_err(), "float indices");
    let x = [0.0f32, 1.0, 2.0, 10.0, 11.0, 12.0];
    assert_eq!(eval(&Op::Gather(g.clone()), &[(&x, &[2, 3]), (&[2.0, -3.0], &[2])], &[2, 2]), [2.0, 0.0, 12.0, 10.0]);
    assert_eq!(eval(&Op::Gather(Gather { axis: 0 }), &[(&x, &[2, 3]), (&[1.0], &[])], &[3]), [10.0, 11.0, 12.0]);
    let views = [View { data: &x, shape: &[2, 3] }, View { data: &[3.0], shape: &[1] }];
    assert!(Op::Gather(g).eval(&views, &mut [0.0; 2], &[2, 1]).is_err(), "index 3 of extent 3");
}

#[test]
fn slice_with_negative_steps() {
    // Expected values are numpy's (the ONNX reference slices with numpy):
    // a = arange(20).reshape(4, 5); a[3:0:-2, 4::-1] and a[::-3, 4:1:-1].
    let x: Vec<f32> = (0..20).map(|i| i as f32).collect();
    let t = TensorType::new(DType::F32, Shape::known(&[4, 5]));
    let onnx = |starts: [i64; 2], ends: [i64; 2], steps: [i64; 2]| {
        let mut s = Slice { axes: vec![0, 1], ..Slice::default() };
        for (i, extent) in [4usize, 5].into_iter().enumerate() {
            let (b, e) = Slice::resolve(starts[i], ends[i], steps[i], extent);
            s.starts.push(b);
            s.ends.push(e);
            s.steps.push(steps[i]);
        }
        Op::Slice(s)
    };
    let s = onnx([3, -1], [0, -10], [-2, -1]);
    assert_eq!(s.infer(&[&t]).unwrap()[0].shape, Shape::known(&[2, 5]));
    assert_eq!(eval(&s, &[(&x, &[4, 5])], &[2, 5]), [19.0, 18.0, 17.0, 16.0, 15.0, 9.0, 8.0, 7.0, 6.0, 5.0]);
    let s = onnx([100, 4], [-100, 1], [-3, -1]);
    assert_eq!(s.infer(&[&t]).unwrap()[0].shape, Shape::known(&[2, 3]));
    assert_eq!(eval(&s, &[(&x, &[4, 5])], &[2, 3]), [19.0, 18.0, 17.0, 4.0, 3.0, 2.0]);
    // Resolved positions: an end of -1 walks through index 0; the text keeps the signs.
    let Op::Slice(sl) = &s else { unreachable!() };
    assert_eq!((sl.starts.clone(), sl.ends.clone()), (vec![3, 4], vec![-1, 1]));
    let mut text = String::new();
    s.write_attrs(&mut text);
    assert_eq!(text, " {axes=[0,1], starts=[3,4], ends=[-1,1], steps=[-3,-1]}");
    // An empty axis, a step of 0, and an end that still counts from the end.
    let empty = TensorType::new(DType::F32, Shape::known(&[0, 5]));
    assert_eq!(s.infer(&[&empty]).unwrap()[0].shape, Shape::known(&[0, 3]));
    assert!(Slice { axes: vec![0], starts: vec![0], ends: vec![2], steps: vec![0] }.infer(&[&t]).is_err());
    assert!(Slice { axes: vec![0], starts: vec![3], ends: vec![-2], steps: vec![-1] }.infer(&[&t]).is_err());
    assert!(Slice { axes: vec![0], starts: vec![0], ends: vec![-1], steps: vec![1] }.infer(&[&t]).is_err());
}

#[test]
fn max_pool_indices_as_onnx() {
    let t = |dt, shape: &[usize]| TensorType::new(dt, Shape::known(shape));
    // ONNX's test_maxpool_with_argmax_2d_precomputed_pads: x = 1..25 in 5x5, 5x5 kernel, pads 2.
    let x: Vec<f32> = (1..=25).map(|v| v as f32).collect();
    let p = MaxPoolIndices { kernel: vec![5, 5], pads: vec![2; 4], ..Default::default() };
    assert_eq!(p.infer(&[&t(DType::F32, &[1, 1, 5, 5])]).unwrap()[0], t(DType::I64, &[1, 1, 5, 5]));
    let want = [12.0, 13.0, 14.0, 14.0, 14.0, 17.0, 18.0, 19.0, 19.0, 19.0, 22.0, 23.0, 24.0, 24.0, 24.0, 22.0, 23.0, 24.0, 24.0, 24.0, 22.0, 23.0, 24.0, 24.0, 24.0];
    assert_eq!(eval(&Op::MaxPoolIndices(p), &[(&x, &[1, 1, 5, 5])], &[1, 1, 5, 5]), want);
    // test_maxpool_with_argmax_2d_precomputed_strides: 2x2 kernel, strides 2, storage_order 1.
    let p = MaxPoolIndices { kernel: vec![2, 2], strides: vec![2, 2], column_major: true, ..Default::default() };
    assert_eq!(eval(&Op::MaxPoolIndices(p), &[(&x, &[1, 1, 5, 5])], &[1, 1, 2, 2]), [6.0, 16.0, 8.0, 18.0]);
    // 3-D, batch 2, a dilated axis and ties (first maximum wins), both storage orders; the
    // expected indices are the ONNX reference evaluator's (and onnxruntime's).
    let x: Vec<f32> = (0..72).map(|i| (i * 7 % 11) as f32).collect();
    let p = MaxPoolIndices { kernel: vec![2, 2, 2], strides: vec![1, 2, 1], dilations: vec![1, 1, 2], pads: vec![0; 6], ..Default::default() };
    assert_eq!(p.infer(&[&t(DType::F32, &[2, 1, 3, 3, 4])]).unwrap()[0], t(DType::I64, &[2, 1, 2, 1, 2]));
    let run = |p: MaxPoolIndices| eval(&Op::MaxPoolIndices(p), &[(&x, &[2, 1, 3, 3, 4])], &[2, 1, 2, 1, 2]);
    assert_eq!(run(p.clone()), [14.0, 3.0, 14.0, 25.0, 36.0, 39.0, 50.0, 61.0]);
    assert_eq!(run(MaxPoolIndices { column_major: true, ..p.clone() }), [19.0, 27.0, 19.0, 11.0, 36.0, 63.0, 55.0, 47.0]);
    // The op's values are max_pool's: the input at each index.
    let m = MaxPool { kernel: p.kernel.clone(), strides: p.strides.clone(), dilations: p.dilations.clone(), pads: p.pads.clone(), ..Default::default() };
    let values = eval(&Op::MaxPool(m), &[(&x, &[2, 1, 3, 3, 4])], &[2, 1, 2, 1, 2]);
    let picked: Vec<f32> = run(p.clone()).iter().map(|&i| x[i as usize]).collect();
    assert_eq!(values, picked);
    assert!(p.infer(&[&t(DType::I64, &[2, 1, 3, 3, 4])]).is_err(), "integer input");
}
