//! A write buffer for plaintext secrets that leaves no copy behind.

use std::io::{self, Write};

use zeroize::Zeroizing;

/// An `io::Write` into a buffer that zeroizes every allocation it leaves
/// (a plain `Vec` copies itself on growth and frees the old copy as is).
pub(crate) struct ZeroizingWriter(Zeroizing<Vec<u8>>);

impl ZeroizingWriter {
    /// An empty buffer with room for `capacity` bytes before it grows.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        ZeroizingWriter(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    /// The bytes written.
    pub(crate) fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl Write for ZeroizingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let needed = self.0.len() + buf.len();
        if needed > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(2 * self.0.capacity())));
            bigger.extend_from_slice(&self.0);
            // The old allocation is zeroized as it drops.
            self.0 = bigger;
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
