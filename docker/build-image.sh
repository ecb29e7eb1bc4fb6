#!/usr/bin/env bash
# Build the project image (`make image`). Settings from the environment:
#   IMAGE_VARIANT  cpu (default; CPU torch, docker/requirements-cpu.lock) or gpu (PyPI's CUDA
#               torch, docker/requirements-gpu.lock; tag suffix -gpu, for the gpu overlay's nodes)
#   IMAGE       name:tag to build (default: ghcr.io/example/stock-news:<version in pyproject.toml>[-gpu])
#   IMAGE_BASE  Python 3.11 base (default docker.io/library/python:3.11-slim). When it can be neither found nor
#               pulled (no registry reachable) and debootstrap is installed, a Debian bookworm base
#               is made from Debian packages instead (localhost/debian:bookworm; its python3 is 3.11).
#   ENGINE      podman or docker (default: podman when installed)
# Build-time only, never in a layer: the host's PIP_CERT (a CA bundle, passed as a build secret) and
# PIP_FIND_LINKS (a wheel folder, passed as the build context `host-wheels`) when set, so pip works
# behind a TLS-intercepting proxy and takes a local CPU torch wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
. docker/engine.sh

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_VARIANT=${IMAGE_VARIANT:-cpu}
case "$IMAGE_VARIANT" in
    cpu) IMAGE=${IMAGE:-ghcr.io/example/stock-news:$VERSION} ;;
    gpu) IMAGE=${IMAGE:-ghcr.io/example/stock-news:$VERSION-gpu} ;;
    *) echo "IMAGE_VARIANT must be cpu or gpu, not $IMAGE_VARIANT" >&2; exit 2 ;;
esac
IMAGE_BASE=${IMAGE_BASE:-docker.io/library/python:3.11-slim}
IMAGE_LOCK=docker/requirements-$IMAGE_VARIANT.lock
DEBIAN_BASE=localhost/debian:bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

base_available() {
    "$ENGINE" image inspect "$1" >/dev/null 2>&1 || timeout 120 "$ENGINE" pull -q "$1" >/dev/null 2>&1
}

debian_base() {
    if "$ENGINE" image inspect "$DEBIAN_BASE" >/dev/null 2>&1; then return; fi
    command -v debootstrap >/dev/null || { echo "no base image: $IMAGE_BASE cannot be pulled and debootstrap is not installed (scripts/system-packages.sh image installs it)" >&2; exit 1; }
    local root
    root=$(mktemp -d)
    trap 'rm -rf "$root"' RETURN
    echo "making $DEBIAN_BASE from Debian packages ($DEBIAN_MIRROR)"
    debootstrap --variant=minbase bookworm "$root" "$DEBIAN_MIRROR" >/dev/null
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | "$ENGINE" import - "$DEBIAN_BASE" >/dev/null
}

if ! base_available "$IMAGE_BASE"; then
    echo "$IMAGE_BASE is not available (no registry reachable?): using a Debian bookworm base"
    debian_base
    IMAGE_BASE=$DEBIAN_BASE
fi

build_args=(--build-arg "BASE=$IMAGE_BASE" --build-arg "LOCK=$IMAGE_LOCK")
# The GPU lock pins PyPI's (CUDA) torch==2.13.0, which the CPU index's 2.13.0+cpu would also satisfy.
if [ "$IMAGE_VARIANT" = gpu ]; then build_args+=(--build-arg TORCH_INDEX=); fi
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    build_args+=(--secret "id=pip-cert,src=$PIP_CERT")
fi
# Not for the GPU variant: a +cpu torch wheel in the folder would satisfy its torch==2.13.0 too.
if [ "$IMAGE_VARIANT" = cpu ] && [ -n "${PIP_FIND_LINKS:-}" ] && [ -d "$PIP_FIND_LINKS" ]; then
    build_args+=(--build-context "host-wheels=$PIP_FIND_LINKS")
    # The folder holds the CPU torch wheel: no need for the PyTorch index.
    if ls "$PIP_FIND_LINKS"/torch-*+cpu-*.whl >/dev/null 2>&1; then build_args+=(--build-arg TORCH_INDEX=); fi
fi

echo "building $IMAGE with $ENGINE (base $IMAGE_BASE, $IMAGE_LOCK)"
"$ENGINE" build --network host "${build_args[@]}" -t "$IMAGE" .
"$ENGINE" image inspect "$IMAGE" --format '{{.Size}}' | awk -v image="$IMAGE" '{printf "%s: %.0f MB\n", image, $1 / 1e6}'
