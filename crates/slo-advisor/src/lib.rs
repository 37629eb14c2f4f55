//! Journeys, SLIs, SLO recommendations, backtests and artifact generation.
//!
//! Not implemented yet (issues 5 and 6): the crate exists so the workspace layout and dependency
//! direction are fixed from the start.
