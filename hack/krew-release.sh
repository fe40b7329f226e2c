#!/usr/bin/env bash
# Builds the kubectl-cx release archives for the platforms plugins/cx.yaml
# lists and renders that template (krew-release-bot's format) into
# dist/cx.yaml with the version and each archive's sha256, so no sum is
# ever written by hand.
#
#   hack/krew-release.sh v0.1.0        (or: make krew-release VERSION=v0.1.0)
#
# Then attach dist/kubectl-cx_*.tar.gz to the GitHub release of the tag and
# submit dist/cx.yaml to krew-index (krew-release-bot does it from the same
# template when the release is published). The archives are reproducible:
# the same commit and Go version give the same bytes, so anyone can check
# a published sum.
set -euo pipefail

version=${1:?usage: hack/krew-release.sh VERSION (a tag such as v0.1.0)}
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || {
  echo "krew-release: VERSION $version is not a semantic version tag such as v0.1.0" >&2
  exit 1
}
root=$(cd "$(dirname "$0")/.." && pwd)
template=$root/plugins/cx.yaml
dist=${DIST:-$root/dist}
mkdir -p "$dist"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

archives=$(grep -o 'kubectl-cx_[a-z0-9]*_[a-z0-9]*\.tar\.gz' "$template" | sort -u)
[[ -n $archives ]] || { echo "krew-release: $template names no kubectl-cx_<os>_<arch>.tar.gz archive" >&2; exit 1; }

sums=()
for archive in $archives; do
  platform=${archive#kubectl-cx_}
  platform=${platform%.tar.gz}
  goos=${platform%_*}
  goarch=${platform#*_}
  mkdir -p "$work/$platform"
  echo "krew-release: building $archive" >&2
  (cd "$root" && CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath -ldflags "-s -w -buildid=" \
    -o "$work/$platform/kubectl-cx" ./cmd/kubectl-cx)
  cp "$root/LICENSE" "$work/$platform/LICENSE"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/$platform" -cf - kubectl-cx LICENSE |
    gzip -n -9 >"$dist/$archive"
  sums+=("$archive=$(sha256sum "$dist/$archive" | cut -d' ' -f1)")
done

# Render: {{ .TagName }} is the version; each
#   {{ addURIAndSha "URL" .TagName }}
# becomes the uri and the sha256 of the archive the URL names.
awk -v version="$version" -v sums="${sums[*]}" '
  BEGIN { n = split(sums, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], p, "="); sha[p[1]] = p[2] } }
  {
    gsub(/\{\{ \.TagName \}\}/, version)
    if (match($0, /\{\{ addURIAndSha "[^"]+" \.TagName \}\}/)) {
      indent = substr($0, 1, RSTART - 1)
      uri = $0; sub(/.*addURIAndSha "/, "", uri); sub(/".*/, "", uri)
      name = uri; sub(/.*\//, "", name)
      if (!(name in sha)) { print "krew-release: no archive built for " uri > "/dev/stderr"; exit 1 }
      print indent "uri: " uri
      print indent "sha256: \"" sha[name] "\""
      next
    }
    print
  }' "$template" >"$dist/cx.yaml"

if grep -q '{{' "$dist/cx.yaml"; then
  echo "krew-release: dist/cx.yaml still holds template markers" >&2
  exit 1
fi
echo "krew-release: wrote $dist/cx.yaml and ${#sums[@]} archives:" >&2
printf '  %s\n' "${sums[@]}" >&2
