//! slo-scout facade
