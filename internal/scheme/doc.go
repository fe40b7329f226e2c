// Package scheme builds the runtime.Scheme shared by the manager, the
// collector and tests: the built-in Kubernetes types plus cxloop's.
package scheme
