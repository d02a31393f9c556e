//! Serializing GE messages straight into a file. prost encodes into a `bytes::BufMut`;
//! [`StreamBuf`] is one that hands the bytes on to an `io::Write` as they come: small fields
//! gather in a staging buffer, long byte fields (the weights of AIR Consts) go to the writer
//! from their own buffers. A model is never serialized into memory first.

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut};
use std::io::{self, Write};

/// Staged bytes are passed on once this many gather; byte fields at least this long bypass
/// the stage.
const STAGE: usize = 64 * 1024;

/// A `BufMut` over an `io::Write`. `BufMut` cannot fail, so the first write error is kept
/// (later bytes are dropped) and [`StreamBuf::finish`] returns it.
pub struct StreamBuf<'w> {
    out: &'w mut dyn Write,
    stage: Vec<u8>,
    error: Option<io::Error>,
}

impl<'w> StreamBuf<'w> {
    /// A buffer writing to `out`.
    pub fn new(out: &'w mut dyn Write) -> StreamBuf<'w> {
        StreamBuf { out, stage: Vec::with_capacity(STAGE), error: None }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(bytes) {
                self.error = Some(e);
            }
        }
    }

    fn flush_stage(&mut self) {
        let stage = std::mem::take(&mut self.stage);
        self.write(&stage);
        self.stage = stage;
        self.stage.clear();
    }

    /// Pass on what is staged; the first write error, if any.
    pub fn finish(mut self) -> io::Result<()> {
        self.flush_stage();
        self.error.map_or(Ok(()), Err)
    }
}

// SAFETY: the uninitialized memory handed out and committed is the staging Vec's own, through
// Vec's `BufMut` impl. `chunk_mut` flushes the stage (which only clears it, keeping its
// capacity) before it hands out a chunk, never between a chunk and its `advance_mut`.
unsafe impl BufMut for StreamBuf<'_> {
    fn remaining_mut(&self) -> usize {
        isize::MAX as usize - self.stage.len()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialized `cnt` bytes of the chunk `chunk_mut` returned, which
        // is the stage's spare capacity.
        unsafe { self.stage.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        if self.stage.len() >= STAGE {
            self.flush_stage();
        }
        self.stage.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() >= STAGE {
            self.flush_stage();
            self.write(src);
        } else {
            self.stage.extend_from_slice(src);
            if self.stage.len() >= STAGE {
                self.flush_stage();
            }
        }
    }

    fn put<T: Buf>(&mut self, mut src: T)
    where
        Self: Sized,
    {
        while src.has_remaining() {
            let chunk = src.chunk();
            let n = chunk.len();
            self.put_slice(chunk);
            src.advance(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use senetc_ge::proto;

    #[test]
    fn streams_the_bytes_prost_would_encode() {
        let big = bytes::Bytes::from((0..200_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let t = proto::TensorDef { desc: Some(proto::TensorDescriptor { name: "w".into(), ..Default::default() }), data: big };
        let op = proto::OpDef { name: "c".into(), r#type: senetc_ge::CannOp::Const.name().into(), attr: [("value".to_string(), senetc_ge::attr::tensor(t))].into(), ..Default::default() };
        let model = proto::ModelDef { name: "m".into(), graph: vec![proto::GraphDef { op: vec![op; 3], ..Default::default() }], ..Default::default() };
        let mut out = Vec::new();
        let mut buf = StreamBuf::new(&mut out);
        model.encode(&mut buf).unwrap();
        buf.finish().unwrap();
        assert_eq!(out, model.encode_to_vec());
    }

    #[test]
    fn keeps_the_first_write_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut full = Full;
        let mut buf = StreamBuf::new(&mut full);
        buf.put_slice(&[1; 100]);
        buf.put_slice(&vec![2; STAGE]);
        assert_eq!(buf.finish().unwrap_err().to_string(), "disk full");
    }
}
