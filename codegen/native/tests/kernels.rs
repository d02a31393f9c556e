//! Every generated kernel against the IR op's reference evaluation (`OpDef::eval`, what the
//! interpreter runs) on random shapes: odd sizes, channels that do not fill a vector block,
//! stride 2, padding, every conv lane mapping (dense, depthwise, grouped by shuffle, grouped
//! by broadcast), fused epilogues (a residual add among them), at every vector width the host
//! runs and on 1 and 2 threads.

use senetc_ir::ops::*;
use senetc_ir::{DType, Dim, Graph, Op, Outlet, Shape, Tensor, TensorType};
use senetc_native::NativePlan;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

fn lanes() -> Vec<usize> {
    let h = senetc_native::host().lanes;
    [4, 8, 16].into_iter().filter(|&l| l <= h).collect()
}

/// A graph of one op over one input `x` (constants from `consts`), checked against eval.
fn check(what: &str, op: Op, xshape: &[usize], consts: &[Vec<usize>], seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut g = Graph::new("k");
    let x = g.add_input("x", TensorType::new(DType::F32, Shape(xshape.iter().map(|&d| Dim::Known(d)).collect())));
    let mut ins: Vec<Outlet> = vec![x];
    let mut datas = vec![rng.vec(xshape.iter().product())];
    for (i, s) in consts.iter().enumerate() {
        let d = rng.vec(s.iter().product());
        ins.push(g.add_const(format!("c{i}"), Tensor::from_f32(s.clone(), &d)));
        datas.push(d);
    }
    let y = g.add("y", op.clone(), &ins).unwrap_or_else(|e| panic!("{what}: {e}"));
    g.add_output("y", y);
    let oshape = g.outlet_type(y).shape.as_known().unwrap();
    let mut shapes = vec![xshape.to_vec()];
    shapes.extend(consts.iter().cloned());
    let views: Vec<View> = datas.iter().zip(&shapes).map(|(d, s)| View { data: d, shape: s }).collect();
    let mut want = vec![0.0f32; oshape.iter().product()];
    op.eval(&views, &mut want, &oshape).unwrap();
    let input = Tensor::from_f32(xshape.to_vec(), &datas[0]);
    for l in lanes() {
        for threads in [1, 2] {
            let mut p = NativePlan::with_lanes(&g, &[xshape.to_vec()], threads, l).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(p.reference_steps().is_empty(), "{what}: ran {:?} on the reference", p.reference_steps());
            let got = p.run(std::slice::from_ref(&input)).unwrap();
            let got = got[0].1.to_f32();
            let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
            let diff = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff <= 1e-5 * scale, "{what} (lanes {l}, {threads} threads): max|diff| {diff}");
        }
    }
}

fn conv(strides: [usize; 2], pads: [usize; 4], group: usize, act: FusedAct) -> Op {
    Op::Conv(Conv { strides: strides.to_vec(), dilations: vec![1, 1], pads: pads.to_vec(), auto_pad: AutoPad::NotSet, group, format: DataFormat::Nchw, act })
}

#[test]
fn dense_convs() {
    // (n, cin, h, w, cout, k, stride, pad)
    // The last three: many input blocks and a partial last one, rows of 7 pixels (a short last
    // register tile shares the pixels of the one before).
    let cases = [(1, 3, 17, 19, 11, 3, 2, 1), (2, 5, 9, 7, 20, 1, 1, 0), (1, 16, 8, 8, 16, 3, 1, 1), (1, 9, 13, 6, 7, 5, 2, 2), (1, 24, 5, 5, 33, 1, 2, 0), (3, 8, 7, 9, 8, 7, 2, 3), (1, 40, 14, 14, 24, 1, 1, 0), (2, 420, 5, 7, 24, 1, 1, 0), (1, 520, 7, 7, 40, 1, 1, 0), (1, 24, 14, 13, 16, 1, 2, 0)];
    for (i, &(n, cin, h, w, cout, k, s, p)) in cases.iter().enumerate() {
        for (j, act) in [FusedAct::None, FusedAct::Relu(Relu {}), FusedAct::Silu(Silu {})].into_iter().enumerate() {
            let op = conv([s, s], [p, p, p, p], 1, act);
            check(&format!("dense conv {i}/{j}"), op, &[n, cin, h, w], &[vec![cout, cin, k, k], vec![cout]], (i * 7 + j) as u64);
        }
    }
    // No bias, asymmetric pads.
    check("conv without bias", conv([1, 2], [0, 1, 2, 1], 1, FusedAct::None), &[1, 6, 9, 9], &[vec![10, 6, 3, 3]], 99);
}

#[test]
fn depthwise_and_grouped_convs() {
    // (n, c, h, w, group, cout, k, stride, pad)
    let cases = [
        (1, 13, 11, 11, 13, 13, 3, 1, 1),
        (2, 32, 10, 9, 32, 32, 5, 2, 2),
        (1, 20, 7, 7, 5, 20, 3, 1, 1),   // 4 channels a group: shuffle
        (1, 24, 9, 8, 3, 24, 3, 2, 1),   // 8 a group
        (1, 64, 6, 6, 2, 64, 3, 1, 1),   // 32 a group: broadcast
        (1, 6, 8, 8, 3, 6, 3, 1, 0),     // 2 a group
    ];
    for (i, &(n, c, h, w, group, cout, k, s, p)) in cases.iter().enumerate() {
        let op = conv([s, s], [p, p, p, p], group, FusedAct::relu6());
        check(&format!("grouped conv {i}"), op, &[n, c, h, w], &[vec![cout, c / group, k, k], vec![cout]], 40 + i as u64);
    }
}

#[test]
fn squeeze_excite_pool_and_elementwise() {
    for (i, &(n, c, h, w, cr)) in [(1, 19, 5, 7, 4), (2, 32, 8, 8, 8), (1, 3, 1, 1, 1)].iter().enumerate() {
        let op = Op::SqueezeExcite(SqueezeExcite { act: FusedAct::Silu(Silu {}), gate: FusedAct::Sigmoid(Sigmoid {}), format: DataFormat::Nchw });
        check(&format!("se {i}"), op, &[n, c, h, w], &[vec![cr, c], vec![cr], vec![c, cr], vec![c]], 70 + i as u64);
    }
    let mp = Op::MaxPool(MaxPool { kernel: vec![3, 3], strides: vec![2, 2], dilations: vec![1, 1], pads: vec![1, 1, 1, 1], auto_pad: AutoPad::NotSet, ceil_mode: false, format: DataFormat::Nchw });
    check("max_pool", mp, &[2, 10, 13, 12], &[], 80);
    check("reduce_mean", Op::ReduceMean(ReduceMean { axes: vec![2, 3], keepdims: false }), &[2, 21, 5, 6], &[], 81);
    check("add_act", Op::AddAct(AddAct { act: FusedAct::Relu(Relu {}) }), &[2, 9, 5, 5], &[vec![2, 9, 5, 5]], 82);
    check("add, plain", Op::Add(Add {}), &[3, 37], &[vec![3, 37]], 83);
    check("hard_swish", Op::HardSwish(HardSwish {}), &[1, 5, 3, 3], &[], 84);
    let gemm = Op::Gemm(Gemm { alpha: 0.5, beta: 2.0, trans_a: false, trans_b: true });
    check("gemm", gemm, &[3, 37], &[vec![29, 37], vec![29]], 85);
    let gemm = Op::Gemm(Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: false });
    check("gemm", gemm, &[2, 16], &[vec![16, 40]], 86);
}

/// A conv whose only consumer is a residual add (with or without an activation): the add runs
/// in the conv's epilogue, in registers, or in the pass over each finished row when either
/// activation goes through e^x; at batch 2 the steps also run image by image.
#[test]
fn conv_with_fused_residual_add() {
    let cases = [
        (FusedAct::Relu(Relu {}), Op::AddAct(AddAct { act: FusedAct::Relu(Relu {}) })),
        (FusedAct::Silu(Silu {}), Op::AddAct(AddAct { act: FusedAct::Relu(Relu {}) })),
        (FusedAct::None, Op::AddAct(AddAct { act: FusedAct::Silu(Silu {}) })),
        (FusedAct::Silu(Silu {}), Op::Add(Add {})),
    ];
    for (i, (act, add)) in cases.into_iter().enumerate() {
        for (n, c, hw, k) in [(1, 24, 9, 3), (2, 16, 7, 1)] {
            let what = format!("conv + residual {i} (n {n}, c {c}, k {k})");
            let mut rng = Rng(90 + i as u64);
            let xshape = vec![n, c, hw, hw];
            let (wshape, bshape) = (vec![c, c, k, k], vec![c]);
            let (xd, wd, bd) = (rng.vec(xshape.iter().product()), rng.vec(wshape.iter().product()), rng.vec(c));
            let p = k / 2;
            let conv = conv([1, 1], [p, p, p, p], 1, act.clone());
            let mut g = Graph::new("k");
            let x = g.add_input("x", TensorType::new(DType::F32, Shape(xshape.iter().map(|&d| Dim::Known(d)).collect())));
            let w = g.add_const("w", Tensor::from_f32(wshape.clone(), &wd));
            let b = g.add_const("b", Tensor::from_f32(bshape.clone(), &bd));
            let y1 = g.add("conv", conv.clone(), &[x, w, b]).unwrap();
            let y = g.add("add", add.clone(), &[y1, x]).unwrap();
            g.add_output("y", y);
            let len: usize = xshape.iter().product();
            let mut mid = vec![0.0f32; len];
            let views = [View { data: &xd, shape: &xshape }, View { data: &wd, shape: &wshape }, View { data: &bd, shape: &bshape }];
            conv.eval(&views, &mut mid, &xshape).unwrap();
            let mut want = vec![0.0f32; len];
            add.eval(&[View { data: &mid, shape: &xshape }, View { data: &xd, shape: &xshape }], &mut want, &xshape).unwrap();
            let input = Tensor::from_f32(xshape.clone(), &xd);
            for l in lanes() {
                for threads in [1, 2] {
                    let mut plan = NativePlan::with_lanes(&g, std::slice::from_ref(&xshape), threads, l).unwrap_or_else(|e| panic!("{what}: {e}"));
                    let got = plan.run(std::slice::from_ref(&input)).unwrap()[0].1.to_f32().into_owned();
                    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
                    let diff = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                    assert!(diff <= 1e-5 * scale, "{what} (lanes {l}, {threads} threads): max|diff| {diff}");
                }
            }
        }
    }
}
