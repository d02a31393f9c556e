//! Numeric kernels of the CPU reference (in progress).
