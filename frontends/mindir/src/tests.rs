//! Unit tests of the MindIR reader and converter.
