#!/usr/bin/env bash
# Offline checks of the Kubernetes manifests (k8s/) and the root Dockerfile
# against the Kubernetes schemas and the real server binary: renders every
# overlay with `kubectl kustomize`, then k8s/validate/check_manifests.mjs
# validates each object (kubernetes-models), checks ports, flags, probes,
# the drain arithmetic, labels and selectors, the Dockerfile, and runs the
# server with each overlay's arguments to ask it what the probes will ask.
#
#   k8s/manifests_test.sh /work/snapshot/presence_server   # standalone
#   bazel test //k8s:manifests_test                         # the same
#
# Needs kubectl and the npm sets k8s-validate and buf that
# `scripts/setup.sh --with-tools` installs under
# ${PRESENCE_TOOLS_DIR:-$HOME/.cache/presence-tools}.
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 PATH/TO/presence_server" >&2
  exit 2
fi
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
if [[ -n ${TEST_SRCDIR:-} ]]; then
  # Under Bazel: the working directory is the runfiles root, and the argument
  # is the binary's path there, which is also its path under bazel-bin.
  root=$PWD
  rootpath=$1
else
  root=$(cd "$(dirname "$0")/.." && pwd)
  rootpath=service/presence_server
fi

tools=${PRESENCE_TOOLS_DIR:-$HOME/.cache/presence-tools}
modules=$tools/k8s-validate/node_modules
buf=$tools/buf/node_modules/.bin/buf
if [[ ! -d $modules ]] ||
  ! cmp -s "$root/k8s/validate/package-lock.json" "$tools/k8s-validate/package-lock.json"; then
  echo "FAIL: $tools/k8s-validate is missing or older than k8s/validate/package-lock.json;" \
    "run scripts/setup.sh --with-tools" >&2
  exit 1
fi
for tool in "$buf" "$(command -v kubectl || echo kubectl)" "$(command -v node || echo node)"; do
  if [[ ! -x $tool ]]; then
    echo "FAIL: $tool not found; run scripts/setup.sh --with-tools" >&2
    exit 1
  fi
done

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/manifests_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Real copies: kustomize refuses files that are symlinks out of its root, and
# Bazel's runfiles are symlinks.
cp -rL "$root/k8s" "$work/k8s"
cp -L "$root/Dockerfile" "$work/Dockerfile"
ln -s "$modules" "$work/k8s/validate/node_modules"

failed=0
rendered=()
for dir in "$work"/k8s/overlays/*/; do
  name=$(basename "$dir")
  if kubectl kustomize "$dir" >"$work/$name.yaml" 2>"$work/$name.err"; then
    rendered+=("$name=$work/$name.yaml")
  else
    echo "FAIL [$name] kubectl kustomize k8s/overlays/$name: $(cat "$work/$name.err")"
    failed=1
  fi
  # The same overlay with the opt-in PubNub HTTP component.
  mkdir -p "$work/k8s/with-http/$name"
  printf 'resources: [../../overlays/%s]\ncomponents: [../../components/pubnub-http]\n' \
    "$name" >"$work/k8s/with-http/$name/kustomization.yaml"
  if kubectl kustomize "$work/k8s/with-http/$name" >"$work/$name+http.yaml" 2>"$work/$name+http.err"; then
    rendered+=("$name+pubnub-http=$work/$name+http.yaml")
  else
    echo "FAIL [$name+pubnub-http] kubectl kustomize: $(cat "$work/$name+http.err")"
    failed=1
  fi
done

node "$work/k8s/validate/check_manifests.mjs" --binary="$binary" --rootpath="$rootpath" \
  --dockerfile="$work/Dockerfile" --buf="$buf" "${rendered[@]}" || failed=1
exit "$failed"
