//! Known architectures: a state dict holds no graph, so senetc brings one. Each entry names
//! its family builder; the builder fixes the topology and reads widths, groups and classes
//! from the weights. [`fits`] scores every architecture against a file's names and shapes.

pub mod effnet;
pub mod net;
pub mod resnet;

use net::Net;
use senetc_import::weights::WeightMap;
use senetc_import::Problem;
use senetc_ir::{DType, Graph};
use std::collections::BTreeMap;

/// Which builder, with which settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// The ResNet family.
    ResNet(resnet::Variant),
    /// The EfficientNet family.
    EfficientNet(effnet::Variant),
}

/// One architecture senetc can build.
#[derive(Clone, Copy, Debug)]
pub struct Arch {
    /// `--arch` name.
    pub name: &'static str,
    /// Whose model code and naming the weights follow.
    pub naming: &'static str,
    /// Default input height and width.
    pub input: usize,
    /// The builder.
    pub family: Family,
}

/// Every architecture, in the order `--arch` lists them.
#[rustfmt::skip]
pub const ARCHS: &[Arch] = &[
    Arch { name: "senet154",           naming: "Cadene pretrainedmodels (layer0.conv1, layer1.0.se_module.fc1, last_linear)", input: 224, family: Family::ResNet(resnet::Variant::CadeneSenet154) },
    Arch { name: "se_resnext50_32x4d", naming: "Cadene pretrainedmodels (layer0.conv1, layer1.0.se_module.fc1, last_linear)", input: 224, family: Family::ResNet(resnet::Variant::CadeneSeResNeXt50) },
    Arch { name: "seresnext50_32x4d",  naming: "timm (conv1, layer1.0.se.fc1, fc)",                                          input: 224, family: Family::ResNet(resnet::Variant::TimmSeResNeXt50) },
    Arch { name: "senet154_timm",      naming: "timm (conv1.0, layer1.0.se.fc1, fc)",                                        input: 224, family: Family::ResNet(resnet::Variant::TimmSenet154) },
    Arch { name: "efficientnet_b0",    naming: "timm (conv_stem, blocks.1.0.se.conv_reduce, classifier)",                    input: 224, family: Family::EfficientNet(effnet::Variant::EfficientNetB0) },
    Arch { name: "mobilenetv1_100",    naming: "timm (conv_stem, blocks.0.0.conv_dw, classifier)",                           input: 224, family: Family::EfficientNet(effnet::Variant::MobileNetV1) },
    Arch { name: "seresnet110_cifar",  naming: "senetc's corpus (conv1, layers.0.se.fc1, fc)",                               input: 32,  family: Family::ResNet(resnet::Variant::CifarSeResNet110) },
    Arch { name: "tiny_se_resnet",     naming: "senetc's fixtures (stem.conv, block1.se.fc1, fc)",                           input: 32,  family: Family::ResNet(resnet::Variant::Tiny) },
];

/// The architecture called `name`.
pub fn find(name: &str) -> Option<&'static Arch> {
    ARCHS.iter().find(|a| a.name == name)
}

/// Tensors a state dict may hold that inference does not use.
pub fn unused_buffer(name: &str) -> bool {
    name.ends_with(".num_batches_tracked")
}

/// What binding produced besides the graph.
#[derive(Clone, Debug, Default)]
pub struct Bound {
    /// Tensors converted to f32, by the element type they had.
    pub converted: BTreeMap<DType, usize>,
}

/// Build `arch` for an input of `hw` and bind `weights`; every missing, unexpected and
/// mis-shaped tensor is reported at once.
pub fn build(arch: &Arch, weights: &WeightMap, hw: [usize; 2]) -> Result<(Graph, Bound), Vec<Problem>> {
    let mut net = Net::new(arch.name, weights, false);
    let out = walk(&mut net, arch, hw);
    let converted = net.converted.clone();
    let g = net.finish(out, unused_buffer, arch.name)?;
    Ok((g, Bound { converted }))
}

fn walk(net: &mut Net<'_>, arch: &Arch, hw: [usize; 2]) -> net::X {
    let x = net.input(hw[0], hw[1]);
    match arch.family {
        Family::ResNet(v) => resnet::build(net, v, x),
        Family::EfficientNet(v) => effnet::build(net, v, x),
    }
}

/// How well a file's tensors fit one architecture.
#[derive(Clone, Debug)]
pub struct Fit {
    /// The architecture.
    pub arch: &'static Arch,
    /// Tensors present with the right shape.
    pub matched: usize,
    /// Tensors of the file that count (unused buffers aside).
    pub given: usize,
    /// Missing, mis-shaped and unexpected tensors.
    pub wrong: usize,
}

impl Fit {
    /// Matched over everything either side names.
    pub fn score(&self) -> f64 {
        self.matched as f64 / (self.matched + self.wrong).max(1) as f64
    }

    /// `senet154 (987 of 987 tensors match)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.arch.name, self.counts())
    }

    /// `987 of 987 tensors match`.
    pub fn counts(&self) -> String {
        format!("{} of {} tensors match", self.matched, self.given)
    }
}

/// Every architecture scored against `weights`, best first (names and shapes only: nothing
/// is built or converted).
pub fn fits(weights: &WeightMap) -> Vec<Fit> {
    let given = weights.keys().filter(|n| !unused_buffer(n)).count();
    let mut v: Vec<Fit> = ARCHS
        .iter()
        .map(|arch| {
            let mut net = Net::new(arch.name, weights, true);
            walk(&mut net, arch, [arch.input, arch.input]);
            let (used, missing, misshaped, unexpected) = net.tally(unused_buffer);
            Fit { arch, matched: used.saturating_sub(misshaped), given, wrong: missing + misshaped + unexpected }
        })
        .collect();
    v.sort_by(|a, b| b.score().total_cmp(&a.score()));
    v
}

/// "senet154, se_resnext50_32x4d, ..." with their naming, one per line.
pub fn listing() -> String {
    ARCHS.iter().map(|a| format!("  {:<20} {}", a.name, a.naming)).collect::<Vec<_>>().join("\n")
}
