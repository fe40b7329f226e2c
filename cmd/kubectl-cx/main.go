// Command kubectl-cx is the kubectl cx plugin (install it on PATH, or with
// krew from plugins/cx.yaml): `kubectl cx cases`, `kubectl cx case NAME`,
// act, move, take, assign, close, `report run`, and `validate`.
package main

import "github.com/cxloop/cxloop/internal/kubectlcx"

func main() { kubectlcx.Main() }
