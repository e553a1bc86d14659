#!/usr/bin/env bash
# Makes local base images for docker/*.Dockerfile without any container registry,
# from this machine's own Node.js:
#
#   $LOCAL_BASE_IMAGE        (default pairwatch-local-base:node<major>)        runtime:
#       node and the shared libraries ldd lists for it, the rest of the C library's
#       shared objects (as Debian's libc6 ships them: librt, libutil, libresolv, the NSS
#       modules... which native addons such as Vite's bundler, rollup, link; node itself
#       does not), dash as /bin/sh, /usr/bin/env,
#       CA certificates, /etc/passwd and /etc/group with non-root users
#       (pairwatch 10001, node 1000, nobody), /tmp with mode 1777.
#   $LOCAL_BUILD_BASE_IMAGE  (default pairwatch-local-base:node<major>-build)  builder:
#       the runtime image plus npm (one extra layer), for `npm ci` / esbuild / nest build.
#
# The runtime image is loaded with `docker import`; the builder adds a layer on top
# with a tiny `docker build`, so the two share the node layer.
#
# Idempotent: does nothing when both images exist and carry the labels of the same
# node and npm versions and of this recipe. FORCE=1 rebuilds. Prints the two tags.
#
# Usage: scripts/make-local-base.sh [--force]
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC2034 # read by lib.sh
PW_LOG_TAG=local-base

# Bump when the contents of the images change, so old ones get rebuilt.
# 2: the whole C library, not only the part node links (rollup's addon needs librt.so.1).
RECIPE=2

if [ "${1:-}" = "--force" ]; then FORCE=1; shift; fi
[ $# -eq 0 ] || pw_die "usage: $0 [--force]"

pw_require_docker

NODE_BIN="$(readlink -f "$(command -v node)")" || pw_die "no node on PATH"
NODE_VERSION="$("$NODE_BIN" --version)"
NODE_MAJOR="${NODE_VERSION#v}"
NODE_MAJOR="${NODE_MAJOR%%.*}"
NPM_CLI="$(readlink -f "$(command -v npm)")" || pw_die "no npm on PATH"
NPM_DIR="$(dirname "$(dirname "$NPM_CLI")")" # .../node_modules/npm
[ -f "$NPM_DIR/package.json" ] || pw_die "cannot find npm's package folder (looked at $NPM_DIR)"
NPM_VERSION="$("$NODE_BIN" -p "require('$NPM_DIR/package.json').version")"
NPM_REGISTRY="$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)"
CA_BUNDLE=""
for f in "${NODE_EXTRA_CA_CERTS:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [ -n "$f" ] && [ -s "$f" ]; then CA_BUNDLE="$f"; break; fi
done
SH_BIN="$(readlink -f "$(command -v dash || command -v busybox || true)")"
[ -n "$SH_BIN" ] || pw_die "need dash or busybox on this machine for the image's /bin/sh (apt-get install -y dash)"
ENV_BIN="$(readlink -f "$(command -v env)")"

RUN_IMAGE="${LOCAL_BASE_IMAGE:-pairwatch-local-base:node${NODE_MAJOR}}"
BUILD_IMAGE="${LOCAL_BUILD_BASE_IMAGE:-${RUN_IMAGE}-build}"

up_to_date() {
  pw_image_exists "$1" &&
    [ "$(pw_image_label "$1" pairwatch.node-version)" = "$NODE_VERSION" ] &&
    [ "$(pw_image_label "$1" pairwatch.base-recipe)" = "$RECIPE" ] &&
    { [ "$1" = "$RUN_IMAGE" ] || [ "$(pw_image_label "$1" pairwatch.npm-version)" = "$NPM_VERSION" ]; }
}

if [ "${FORCE:-0}" != 1 ] && up_to_date "$RUN_IMAGE" && up_to_date "$BUILD_IMAGE"; then
  pw_log "up to date: $RUN_IMAGE and $BUILD_IMAGE (node $NODE_VERSION, npm $NPM_VERSION)"
  printf '%s\n%s\n' "$RUN_IMAGE" "$BUILD_IMAGE"
  exit 0
fi

START="$(pw_now)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pairwatch-base.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"

# --- runtime rootfs -------------------------------------------------------------
# merged-/usr layout, like Debian 12
mkdir -p "$ROOT"/usr/bin "$ROOT"/usr/sbin "$ROOT"/usr/lib "$ROOT"/usr/lib64 \
  "$ROOT"/etc/ssl/certs "$ROOT"/dev "$ROOT"/proc "$ROOT"/sys "$ROOT"/run \
  "$ROOT"/var/tmp "$ROOT"/tmp "$ROOT"/root "$ROOT"/home/pairwatch "$ROOT"/home/node "$ROOT"/app
ln -s usr/bin "$ROOT/bin"
ln -s usr/sbin "$ROOT/sbin"
ln -s usr/lib "$ROOT/lib"
ln -s usr/lib64 "$ROOT/lib64"
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
chmod 700 "$ROOT/root"

# Copy FILE to the same path inside the rootfs, dereferencing symlinks.
put() {
  mkdir -p "$ROOT$(dirname "$1")"
  cp -L "$1" "$ROOT$1"
}

# The shared libraries (and the dynamic loader) each binary needs, at the paths
# ldd names, which is where the loader looks for them.
libs_of() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

put_bin() { # SRC DEST-PATH
  mkdir -p "$ROOT$(dirname "$2")"
  cp -L "$1" "$ROOT$2"
  local lib
  for lib in $(libs_of "$1"); do
    [ -e "$ROOT$lib" ] || put "$lib"
  done
}

put_bin "$NODE_BIN" /usr/bin/node
put_bin "$SH_BIN" /usr/bin/sh
put_bin "$ENV_BIN" /usr/bin/env

# The C library whole, from beside the libc.so.6 node links: a public base (Debian's
# libc6) has all of these, and native addons from npm link more of them than node
# does (rollup's, which Vite runs at `npm run build:dashboard`, needs librt.so.1).
# The same glibc as node's, so they match the loader and libc.so.6 already copied.
GLIBC_SONAMES="libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libutil.so.1
  libresolv.so.2 libanl.so.1 libmvec.so.1 libnsl.so.1 libBrokenLocale.so.1 libthread_db.so.1
  libc_malloc_debug.so.0 libnss_files.so.2 libnss_dns.so.2 libnss_compat.so.2"
LIBC_PATH="$(libs_of "$NODE_BIN" | grep '/libc\.so\.6$' | head -n 1)"
[ -n "$LIBC_PATH" ] || pw_die "cannot find the libc.so.6 node links (ldd $NODE_BIN)"
LIBC_DIR="$(dirname "$LIBC_PATH")"
for so in $GLIBC_SONAMES; do
  if [ -e "$LIBC_DIR/$so" ]; then
    [ -e "$ROOT$LIBC_DIR/$so" ] || put "$LIBC_DIR/$so"
  else
    case "$so" in
      # Present in every glibc this script can meet (2.17 on): a stand-in without them is no stand-in.
      librt.so.1 | libpthread.so.0 | libdl.so.2 | libm.so.6 | libresolv.so.2 | libutil.so.1)
        pw_die "this machine's C library has no $so beside $LIBC_PATH" ;;
    esac
  fi
done

if [ -n "$CA_BUNDLE" ]; then
  cp -L "$CA_BUNDLE" "$ROOT/etc/ssl/certs/ca-certificates.crt"
else
  pw_warn "no CA bundle found on this machine: HTTPS inside the images will use node's built-in roots only"
fi
chmod 644 "$ROOT/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true

cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
pairwatch:x:10001:10001:pairwatch:/home/pairwatch:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
node:x:1000:
pairwatch:x:10001:
nogroup:x:65534:
EOF
chmod 644 "$ROOT/etc/passwd" "$ROOT/etc/group"
chown 1000:1000 "$ROOT/home/node"
chown 10001:10001 "$ROOT/home/pairwatch"
cat >"$ROOT/etc/nsswitch.conf" <<'EOF'
passwd: files
group:  files
shadow: files
hosts:  files dns
networks: files
EOF
# docker bind-mounts its own /etc/hosts and /etc/resolv.conf; these are placeholders.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
: >"$ROOT/etc/resolv.conf"
cat >"$ROOT/etc/os-release" <<EOF
PRETTY_NAME="pairwatch local base (node $NODE_VERSION from $(hostname 2>/dev/null || echo this machine))"
NAME="pairwatch-local-base"
ID=pairwatch-local-base
EOF

# Smoke test of the rootfs before loading it: node must start with only these libraries.
if command -v chroot >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  chroot "$ROOT" /usr/bin/node -e 'process.exit(0)' ||
    pw_die "node does not start inside the rootfs (a library missing?)"
  chroot "$ROOT" /bin/sh -c 'exit 0' || pw_die "/bin/sh does not start inside the rootfs"
fi

CHANGES=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=${NODE_VERSION#v}"
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
  --change "LABEL pairwatch.node-version=$NODE_VERSION"
  --change "LABEL pairwatch.base-recipe=$RECIPE"
  --change 'LABEL org.opencontainers.image.title=pairwatch-local-base'
  --change 'LABEL org.opencontainers.image.description="Node.js runtime copied from the build machine (no registry)"'
  --change 'CMD ["node"]'
)
tar -C "$ROOT" --numeric-owner -cf - . | docker import "${CHANGES[@]}" - "$RUN_IMAGE" >/dev/null
pw_log "imported $RUN_IMAGE ($(pw_image_size "$RUN_IMAGE"))"

# --- builder: runtime + npm -------------------------------------------------------
CTX="$WORK/build-ctx"
mkdir -p "$CTX"
cp -a "$NPM_DIR" "$CTX/npm"
cat >"$CTX/npmrc" <<EOF
registry=$NPM_REGISTRY
update-notifier=false
fund=false
audit=false
EOF
cat >"$CTX/Dockerfile" <<EOF
FROM $RUN_IMAGE
COPY npm /usr/lib/node_modules/npm
COPY npmrc /usr/etc/npmrc
RUN ["/usr/bin/node", "-e", "const fs=require('fs');fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js','/usr/bin/npm');fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js','/usr/bin/npx')"]
LABEL pairwatch.npm-version="$NPM_VERSION" org.opencontainers.image.title="pairwatch-local-build-base"
EOF
DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}" docker build --quiet --network none -t "$BUILD_IMAGE" "$CTX" >/dev/null 2>"$WORK/build.log" ||
  { cat "$WORK/build.log" >&2; pw_die "docker build of $BUILD_IMAGE failed"; }
docker run --rm --network none "$BUILD_IMAGE" npm --version >/dev/null ||
  pw_die "npm does not run in $BUILD_IMAGE"
pw_log "built $BUILD_IMAGE ($(pw_image_size "$BUILD_IMAGE")) in $(pw_elapsed "$START") from node $NODE_VERSION, npm $NPM_VERSION"
printf '%s\n%s\n' "$RUN_IMAGE" "$BUILD_IMAGE"
