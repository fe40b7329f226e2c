// Package crdcheck validates custom resources offline exactly as the
// Kubernetes API server does on create and update: the same libraries
// (k8s.io/apiextensions-apiserver) run the same steps in the same order as
// the CustomResource REST strategy, so every message is the one `kubectl
// apply` prints.
//
// The steps, per object: strict decoding (unknown fields are refused, as
// with kubectl's default --validate=strict), pruning and metadata
// coercion, defaulting from the structural schema, then the OpenAPI schema
// validation, object metadata, list-type (set and map) invariants and the
// x-kubernetes-validations CEL rules; an update also runs transition rules
// (oldSelf) and ratcheting against the previous object.
package crdcheck
