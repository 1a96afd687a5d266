//! The wire bodies the routes serve; they live in the neutral [`crate::views`] so the
//! Operator agent uses the same types without importing the HTTP layer.

pub use crate::views::*;
