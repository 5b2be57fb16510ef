#!/usr/bin/env bash
# Builds the project's image without a Docker engine, from Debian's packages and the pinned Node only (no container
# registry): a root filesystem of the few shared libraries Node needs (mmdebstrap --variant=extract: no shell, no
# package manager in the image), the pinned Node binary (test/env/node.sh), and the app as the Dockerfile stages it
# (production dependencies of package-lock.json, the compiled src/, crds/), committed by buildah from scratch. Run by
# `npm test`; the image test (test/integration/image.test.ts) runs both entry points with podman.
#   tag: localhost/jaeger-storage-operator:build-<hash of its inputs>; warm (image present): instant
#   reproducible: file times and the creation time are the epoch (buildah commit --timestamp 0), so the same inputs
#   (sources, lock file, Node, the cached root filesystem) give the same image ID
#   needs root and buildah, podman, runc, mmdebstrap (installed from Debian's packages when missing)
# Prints the tag on stdout as its last line; JSO_IMAGE_TAG_FILE (default $JSO_CACHE/image-tag) holds it too.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
log() { printf '[build-image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[build-image] ERROR: %s\n' "$*" >&2; exit 1; }

# Debian release and the packages of the root filesystem: the C and C++ runtimes Node links against, CA
# certificates (TLS to backends) and time zones
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
PACKAGES="libc6,libstdc++6,libgcc-s1,libatomic1,ca-certificates,tzdata"

[ "$(id -u)" = 0 ] || die "building the image needs root (buildah without a user namespace setup); run as root: bash test/env/build-image.sh"
missing=()
for t in buildah podman runc mmdebstrap; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah podman runc mmdebstrap >&2 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah podman runc mmdebstrap >&2; } \
    || die "apt-get could not install buildah podman runc mmdebstrap; install them, then run: bash test/env/build-image.sh"
fi

node_dir="$(bash "$here/node.sh")"
[ -x "$node_dir/node" ] || die "the pinned Node is missing: bash test/env/node.sh"
export PATH="$node_dir:$PATH"

# the tag names everything the image is made of
inputs="$( (cd "$root" && cat package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json test/env/build-image.sh && find src crds -type f -not -path 'src/storage/testing/*' | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-12)"
# JSO_IMAGE_TAG_SUFFIX: a second tag for the same inputs, built anew (the image test checks that it is the same image)
tag="localhost/jaeger-storage-operator:build-$inputs-node$NODE_VERSION${JSO_IMAGE_TAG_SUFFIX:-}"
tag_file="${JSO_IMAGE_TAG_FILE:-$JSO_CACHE/image-tag}"
mkdir -p "$(dirname "$tag_file")"
if podman image exists "$tag" 2>/dev/null; then
  log "image $tag: present"
  echo "$tag" > "$tag_file"
  echo "$tag"
  exit 0
fi

work="$(mktemp -d)"
ctr=""
cleanup() {
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

rootfs_tar="$JSO_CACHE/image-rootfs-$DEBIAN_SUITE-$(echo "$PACKAGES" | sha256sum | cut -c1-8).tar"
if [ ! -f "$rootfs_tar" ]; then
  log "root filesystem: $PACKAGES from Debian $DEBIAN_SUITE (mmdebstrap --variant=extract)"
  mmdebstrap --quiet --variant=extract --include="$PACKAGES" --mode=root "$DEBIAN_SUITE" "$work/rootfs.tar" >&2 || die "mmdebstrap failed; check access to Debian's package mirror, then run: bash test/env/build-image.sh"
  mv "$work/rootfs.tar" "$rootfs_tar"
fi

log "app: production dependencies (npm ci --omit=dev) and the compiled sources"
app="$work/app"
mkdir -p "$app"
cp "$root/package.json" "$root/package-lock.json" "$root/.npmrc" "$app/"
(cd "$app" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >&2) || die "npm ci --omit=dev failed"
(cd "$root" && npx tsc -p tsconfig.build.json --outDir "$app/dist" --noEmit false --incremental false >&2) || die "tsc failed"
# dist/src as in the Dockerfile: tsc writes src/ under the outDir
[ -f "$app/dist/src/cli.js" ] || die "tsc produced no dist/src/cli.js"
cp -R "$root/crds" "$app/crds"
rm -f "$app/.npmrc"
# nothing the process loads: type declarations, source maps, TypeScript sources and docs of the dependencies
before="$(du -sm "$app/node_modules" | cut -f1)"
rm -rf "$app/node_modules/@types"
find "$app/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.ts' -o -name '*.md' -o -name '*.markdown' \) -delete
log "dependencies: ${before} MiB, $(du -sm "$app/node_modules" | cut -f1) MiB without declarations, maps and docs"

log "image: buildah from scratch, root filesystem + node $NODE_VERSION + app"
ctr="$(buildah from scratch)"
mnt="$(buildah mount "$ctr")"
tar -xf "$rootfs_tar" -C "$mnt"
install -D -m 0755 "$node_dir/node" "$mnt/usr/local/bin/node"
mkdir -p "$mnt/app" "$mnt/tmp"
chmod 1777 "$mnt/tmp"
cp -R "$app/." "$mnt/app/"
buildah umount "$ctr" >/dev/null
buildah config \
  --env NODE_ENV=production \
  --workingdir /app \
  --user 65532:65532 \
  --port 8080 --port 4317 --port 4318 --port 16685 --port 16686 --port 17271 --port 5778 --port 5779 --port 8888 \
  --entrypoint '["/usr/local/bin/node", "/app/dist/src/cli.js"]' \
  --cmd operator \
  --label org.opencontainers.image.title=jaeger-storage-operator \
  --label org.opencontainers.image.version="$(node -p 'require(process.argv[1]).version' "$root/package.json")" \
  "$ctr"
buildah commit --quiet --timestamp 0 --rm "$ctr" "$tag" >/dev/null
ctr=""
size="$(podman image inspect "$tag" --format '{{.Size}}')"
log "image $tag: $((size / 1024 / 1024)) MiB"
# images of earlier inputs are not used again: dropped (a second tag of these inputs, -repro, is the test's)
if [ -z "${JSO_IMAGE_TAG_SUFFIX:-}" ]; then
  podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/jaeger-storage-operator:build-' | grep -v -x -F "$tag" | xargs -r podman rmi -f >/dev/null 2>&1 || true
fi
echo "$tag" > "$tag_file"
echo "$tag"
