//! One module per rewrite path.
pub mod dr;
