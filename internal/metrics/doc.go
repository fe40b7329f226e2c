// Package metrics is the KPI arithmetic of cxloop: mergeable aggregates of
// survey answers (what a collector's GET /v1/metrics returns and the manager
// merges across touchpoints and replicas), the KPIs computed from them (NPS,
// CSAT, CES, mean sentiment) with their 95% margins of error, key-driver
// analysis, percent-of-opportunity goals and trend extrapolation.
//
// Definitions (docs/design.md, "Metrics definitions"):
//
//   - NPS (0-10): % promoters (9-10) minus % detractors (0-6), -100..100.
//   - CSAT: % of top-two-box answers (4-5 on a 5-point scale; the two highest
//     values of any other scale), and the mean.
//   - CES: the mean on the question's scale (1-7 by default; higher = easier).
//   - Percent of opportunity goal: target = current + p × (max − current).
//
// Aggregates hold only counts and sums, so merging is exact: merging the
// aggregates of two sets of responses gives the aggregate of their union,
// in any order and grouping. The package is pure (no I/O, no clock) and its
// types are plain values, safe to share once built.
package metrics
