// Package predict estimates how a customer experienced an interaction that
// was never surveyed, from the business events that describe it (wait
// times, transfers, repeat contacts, late deliveries) and the customer's
// attributes.
//
// The pieces, all pure and free of Kubernetes and store types:
//
//   - Spec declares the target (the probability that an NPS answer is a
//     detractor, that a CSAT answer is in the bottom two boxes, or the mean
//     CES answer), the events that make up an interaction and how they join
//     to responses, and the features.
//   - Join groups events into interactions and labels the interactions that
//     got a response; the others are the ones to score.
//   - Train fits a regularized logistic regression (probability targets) or
//     ridge regression (the mean) with gonum, evaluates it honestly on a
//     held-out set of customers never seen in training and by k-fold
//     cross-validation, measures calibration, and refuses the model, with
//     the reason, below the declared minimum accuracy or training size.
//   - Model.Score turns an interaction's features into a predicted score.
//
// A refused model predicts nothing: Train returns no Model for it.
package predict
