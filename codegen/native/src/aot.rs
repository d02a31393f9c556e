//! Ahead-of-time output: the same generated kernels in an object file (or a shared library
//! linked by `cc -shared`), with C entry points written in LLVM IR, a header beside it, and
//! the packed weights in a sidecar file that `senetc_model_init` maps (Linux `mmap`).
//!
//! ```c
//! int  senetc_model_init(const char *weights_path); /* 0, or <0: open/size/map/alloc failed */
//! int  senetc_model_run(const float *input, float *output); /* 0, or -1 before init */
//! void senetc_model_free(void);
//! ```
//!
//! The code runs on the calling thread (one thread; the JIT engine is the parallel one), and
//! is compiled for the CPU senetc runs on (its LLVM name and features).

use crate::kern::Base;
use crate::lower::{Lowered, StepKind};
use crate::{build_module, host, module_text, target_machine, NativeError};
use inkwell::context::Context;
use inkwell::targets::FileType;
use senetc_ir::Graph;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What the entry points need to know.
pub struct AotInfo {
    /// Bytes of the weights file.
    pub weight_bytes: usize,
}

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AotKind {
    /// A relocatable object (`.o`).
    Object,
    /// A shared library (`.so`), linked with `cc -shared`.
    Shared,
}

/// The files beside an artifact at `out`: the header and the weights.
pub fn sidecars(out: &Path) -> (PathBuf, PathBuf) {
    (out.with_extension("h"), out.with_extension("weights"))
}

/// The entry points' IR.
pub(crate) fn entry_points(l: &Lowered, info: &AotInfo) -> String {
    let wbytes = info.weight_bytes;
    let abytes = l.arena.div_ceil(16) * 64;
    let mut s = String::new();
    s.push_str(
        "@senetc_w = internal global float* null\n@senetc_a = internal global float* null\n\
         declare i32 @open(i8*, i32, ...)\ndeclare i64 @lseek(i32, i64, i32)\n\
         declare i8* @mmap(i8*, i64, i32, i32, i32, i64)\ndeclare i32 @munmap(i8*, i64)\n\
         declare i32 @close(i32)\ndeclare i8* @aligned_alloc(i64, i64)\ndeclare void @free(i8*)\n\n",
    );
    let _ = write!(
        s,
        "define i32 @senetc_model_init(i8* %path) #0 {{
entry:
  %fd = call i32 (i8*, i32, ...) @open(i8* %path, i32 0)
  %bad = icmp slt i32 %fd, 0
  br i1 %bad, label %e1, label %ok1
e1:
  ret i32 -1
ok1:
  %sz = call i64 @lseek(i32 %fd, i64 0, i32 2)
  %szok = icmp eq i64 %sz, {wbytes}
  br i1 %szok, label %ok2, label %e2
e2:
  %c2 = call i32 @close(i32 %fd)
  ret i32 -2
ok2:
  %m = call i8* @mmap(i8* null, i64 {wbytes}, i32 1, i32 2, i32 %fd, i64 0)
  %c3 = call i32 @close(i32 %fd)
  %mi = ptrtoint i8* %m to i64
  %mf = icmp eq i64 %mi, -1
  br i1 %mf, label %e3, label %ok3
e3:
  ret i32 -3
ok3:
  %wf = bitcast i8* %m to float*
  store float* %wf, float** @senetc_w
  %a = call i8* @aligned_alloc(i64 64, i64 {abytes})
  %an = icmp eq i8* %a, null
  br i1 %an, label %e4, label %ok4
e4:
  ret i32 -4
ok4:
  %af = bitcast i8* %a to float*
  store float* %af, float** @senetc_a
  ret i32 0
}}

define void @senetc_model_free() #0 {{
entry:
  %w = load float*, float** @senetc_w
  %wn = icmp eq float* %w, null
  br i1 %wn, label %a, label %unmap
unmap:
  %wi = bitcast float* %w to i8*
  %u = call i32 @munmap(i8* %wi, i64 {wbytes})
  store float* null, float** @senetc_w
  br label %a
a:
  %ar = load float*, float** @senetc_a
  %ai = bitcast float* %ar to i8*
  call void @free(i8* %ai)
  store float* null, float** @senetc_a
  ret void
}}

define i32 @senetc_model_run(float* noalias %in, float* noalias %out) #0 {{
entry:
  %w = load float*, float** @senetc_w
  %a = load float*, float** @senetc_a
  %wn = icmp eq float* %w, null
  %an = icmp eq float* %a, null
  %no = or i1 %wn, %an
  br i1 %no, label %uninit, label %go
uninit:
  ret i32 -1
go:
"
    );
    let most = l.steps.iter().map(|st| st.locs.len()).max().unwrap_or(0).max(1);
    // Insert the allocation of the pointer array at the start of `go`.
    let _ = writeln!(s, "  %P = alloca [{most} x float*], align 8");
    for (i, st) in l.steps.iter().enumerate() {
        if let StepKind::Gen { .. } = st.kind {
            for (k, loc) in st.locs.iter().enumerate() {
                let base = match loc.base {
                    Base::Arena => "%a",
                    Base::Weights => "%w",
                    Base::Input => "%in",
                    Base::Output => "%out",
                };
                let _ = writeln!(s, "  %s{i}p{k} = getelementptr inbounds float, float* {base}, i64 {}", loc.off);
                let _ = writeln!(s, "  %s{i}q{k} = getelementptr inbounds [{most} x float*], [{most} x float*]* %P, i64 0, i64 {k}");
                let _ = writeln!(s, "  store float* %s{i}p{k}, float** %s{i}q{k}, align 8");
            }
            let _ = writeln!(s, "  %s{i}a = getelementptr inbounds [{most} x float*], [{most} x float*]* %P, i64 0, i64 0");
            let _ = writeln!(s, "  call void @{}(float** %s{i}a, i64 0, i64 {})", st.name, st.items);
        }
    }
    s.push_str("  ret i32 0\n}\n\n");
    s
}

fn header(l: &Lowered, weights_name: &str) -> String {
    let n_in: usize = l.input.iter().product();
    let n_out: usize = l.output.1.iter().product();
    let dims = |d: &[usize]| d.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ");
    format!(
        "/* Generated by senetc: native code for one model at fixed shapes.\n \
         * input  float[{}] (NCHW), output \"{}\" float[{}].\n \
         * Weights: {weights_name} (mapped by senetc_model_init). One thread; not reentrant. */\n\
         #ifndef SENETC_MODEL_H\n#define SENETC_MODEL_H\n#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n\
         #define SENETC_MODEL_INPUT_SIZE {n_in}\n#define SENETC_MODEL_OUTPUT_SIZE {n_out}\n\
         #define SENETC_MODEL_INPUT_SHAPE {{{}}}\n#define SENETC_MODEL_OUTPUT_SHAPE {{{}}}\n\n\
         /* Map the weights file; 0 on success, -1 cannot open, -2 wrong size, -3 cannot map, -4 out of memory. */\n\
         int senetc_model_init(const char *weights_path);\n\
         /* Run one inference; 0 on success, -1 before senetc_model_init. */\n\
         int senetc_model_run(const float *input, float *output);\n\
         /* Unmap the weights and free the activations. */\n\
         void senetc_model_free(void);\n\n#ifdef __cplusplus\n}}\n#endif\n#endif\n",
        dims(&l.input),
        l.output.0,
        dims(&l.output.1),
        dims(&l.input),
        dims(&l.output.1),
    )
}

/// Compile `g` at `input_shapes` and write the artifact to `out` (bytes), returning the
/// header and weights to write beside it (`sidecars(path)`).
pub fn compile(g: &Graph, input_shapes: &[Vec<usize>], kind: AotKind, weights_name: &str) -> Result<(Vec<u8>, String, Vec<u8>), NativeError> {
    let h = host();
    let l = crate::lower::lower(g, input_shapes, h.lanes)?;
    let mut w = l.weights.clone();
    w.resize(w.len().max(16).div_ceil(16) * 16, 0.0);
    let wbytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
    let info = AotInfo { weight_bytes: wbytes.len() };
    let text = module_text(&l, &h, Some(&info))?;
    let tm = target_machine(&h)?;
    let ctx = Context::create();
    let m = build_module(&ctx, &text, &tm)?;
    let obj = tm.write_to_memory_buffer(&m, FileType::Object).map_err(|e| NativeError::Llvm(e.to_string()))?;
    let obj = obj.as_slice().to_vec();
    let bytes = match kind {
        AotKind::Object => obj,
        AotKind::Shared => link_shared(&obj)?,
    };
    Ok((bytes, header(&l, weights_name), wbytes))
}

fn link_shared(obj: &[u8]) -> Result<Vec<u8>, NativeError> {
    let dir = std::env::temp_dir().join(format!("senetc-aot-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())));
    std::fs::create_dir_all(&dir)?;
    let (o, so) = (dir.join("model.o"), dir.join("model.so"));
    std::fs::write(&o, obj)?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let r = std::process::Command::new(&cc).arg("-shared").arg("-o").arg(&so).arg(&o).output();
    let result = match r {
        Ok(r) if r.status.success() => std::fs::read(&so).map_err(NativeError::Io),
        Ok(r) => Err(NativeError::Llvm(format!("{cc} -shared failed: {}", String::from_utf8_lossy(&r.stderr).trim()))),
        Err(e) => Err(NativeError::Llvm(format!("cannot run {cc} to link the shared library: {e}"))),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}
