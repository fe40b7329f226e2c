// Package kubectlcx is the kubectl cx plugin: work Cases and run reports
// with the person's own kubeconfig, so RBAC and cxloop's admission
// policies apply to them exactly as to kubectl, and validate programs
// offline.
package kubectlcx
