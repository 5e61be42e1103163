//! Front ends: the wire protocols legacy clients speak, translated to Graph.

pub mod graph;
