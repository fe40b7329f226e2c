// Package manifest reads Kubernetes manifests the way `kubectl apply -f`
// does (files, folders, kustomization folders, "-" for stdin) and keeps
// where each object and each of its fields was written, so that a problem
// can be reported as file:line.
package manifest
