// Package testenv starts a real kube-apiserver and etcd (envtest) with the
// cxloop CRDs installed, for tests of controllers and manifests.
package testenv
