#!/usr/bin/env bash
# Provides a real kube-apiserver and etcd for envtest, built from the Go module
# proxy (the usual setup-envtest download servers are not reachable everywhere).
#
# Prints the directory holding the binaries on stdout; everything else goes to
# stderr. Binaries are cached per version outside the checkout, like
# setup-envtest does, so fresh clones and CI reuse them:
#   ${CXLOOP_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cxloop/envtest}/k8s-<v>-etcd-<v>
# bin/k8s in the checkout is a symlink to that directory.
#
# When KUBEBUILDER_ASSETS is already set (for example by setup-envtest), that
# directory is used as it is and nothing is built.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.8}"

log() { printf 'setup-envtest: %s\n' "$*" >&2; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  if [[ -x "${KUBEBUILDER_ASSETS}/kube-apiserver" && -x "${KUBEBUILDER_ASSETS}/etcd" ]]; then
    printf '%s\n' "${KUBEBUILDER_ASSETS}"
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS} has no kube-apiserver and etcd; unset it to build them"
  exit 1
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${CXLOOP_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cxloop/envtest}"
dir="${cache_root}/k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}"
mkdir -p "${dir}"

# Serialise concurrent callers (parallel make jobs, two terminals).
exec 9>"${dir}/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

build_etcd() {
  [[ -x "${dir}/etcd" ]] && return 0
  log "building etcd v${ETCD_VERSION} from the Go module proxy (about a minute, once)"
  mkdir -p "${work}/etcd"
  (
    cd "${work}/etcd"
    go mod init cxloop.local/envtest-etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >&2
    CGO_ENABLED=0 go build -trimpath -o "${dir}/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
  )
  mv "${dir}/etcd.tmp" "${dir}/etcd"
}

build_apiserver() {
  [[ -x "${dir}/kube-apiserver" ]] && return 0
  log "building kube-apiserver v${KUBERNETES_VERSION} from the Go module proxy (about 9 minutes on 2 cores, once)"
  mkdir -p "${work}/apiserver"
  (
    cd "${work}/apiserver"
    go mod init cxloop.local/envtest-apiserver >/dev/null 2>&1
    # k8s.io/kubernetes replaces its staging modules with ./staging paths;
    # mirror those replace lines with the published v0.x versions.
    gomod="$(go mod download -json "k8s.io/kubernetes@v${KUBERNETES_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
    [[ -f "${gomod}" ]] || { log "could not download the go.mod of k8s.io/kubernetes@v${KUBERNETES_VERSION}"; exit 1; }
    staging_version="v0.${KUBERNETES_VERSION#1.}"
    {
      printf 'require k8s.io/kubernetes v%s\n' "${KUBERNETES_VERSION}"
      grep -E '^[[:space:]]*k8s\.io/[^ ]+ => \./staging/' "${gomod}" |
        awk -v v="${staging_version}" '{ printf "replace %s => %s %s\n", $1, $1, v }'
    } >>go.mod
    go get "k8s.io/kubernetes/cmd/kube-apiserver@v${KUBERNETES_VERSION}" >&2
    CGO_ENABLED=0 go build -trimpath -o "${dir}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
  )
  mv "${dir}/kube-apiserver.tmp" "${dir}/kube-apiserver"
}

build_etcd
build_apiserver

mkdir -p "${root}/bin"
ln -sfn "${dir}" "${root}/bin/k8s"
printf '%s\n' "${dir}"
