//! Front ends: the wire protocols legacy clients speak, translated to Graph.

pub mod cors;
pub mod ews;
pub mod graph;
pub mod rest;
