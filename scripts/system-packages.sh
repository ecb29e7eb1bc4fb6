#!/usr/bin/env bash
# Installs the Debian packages the project's tests and image drive, those missing only, saying
# what and why first; through sudo only when not root. `make test` and `make image` call it.
#   scripts/system-packages.sh test    everything `make test` drives
#   scripts/system-packages.sh image   what `make image` needs
set -euo pipefail
purpose=${1:-test}
declare -A why=(
    [chromium]="the browser tests (Playwright drives Debian's chromium; its own browser download cannot work offline)"
    [podman]="building and running the project image"
    [runc]="podman's container runtime"
    [debootstrap]="the image's Debian base when no image registry is reachable"
    [postgresql]="the cluster drills' shared-state server (PostgreSQL 15)"
    [redis-server]="the cluster drills' rate-budget server"
)
present() {
    case $1 in
        postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}
case $purpose in
    test) wanted=(chromium podman runc debootstrap postgresql redis-server) ;;
    image) wanted=(podman runc debootstrap) ;;
    *) echo "usage: $0 test|image" >&2; exit 2 ;;
esac
missing=()
for package in "${wanted[@]}"; do present "$package" || missing+=("$package"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages for $purpose:"
for package in "${missing[@]}"; do echo "  $package: ${why[$package]}"; done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get is not available here: install ${missing[*]} with your system's package manager, then run make again." >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    echo "(not root: through sudo, which may ask for your password)"
    SUDO=(sudo)
else
    echo "not root and no sudo: as root, run: apt-get install -y ${missing[*]}" >&2
    exit 1
fi
"${SUDO[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q "${missing[@]}"
