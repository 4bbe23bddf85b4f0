#!/usr/bin/env bash
# Builds the stampede-agent OCI image offline, from our own Debian package:
#
#   deploy/oci/build-image.sh DEB LAYOUT [TAG]
#
# DEB is the package `make package` built (build/package/stampede_*.deb);
# LAYOUT is the OCI image layout directory to write (replaced if present),
# TAG its tag (default: the package version). Also writes LAYOUT.tar, the
# same layout as an oci-archive for `podman load`.
#
# The image holds the agent from DEB, the shared libraries it links as this
# host resolves them (with ldd), the dynamic loader, the CA bundle, and
# passwd/group entries for its user: nothing else, so no shell. It runs as
# 65532:65532 with the agent as its entrypoint, and writes no file, so it
# runs with a read-only root (docs/deploy-daemons.md). umoci builds it
# without a daemon and without running anything from the image.
set -euo pipefail

readonly AGENT_UID=65532
readonly IMAGE_AGENT=/usr/bin/stampede-agent

usage() {
    echo "usage: deploy/oci/build-image.sh DEB LAYOUT [TAG]" >&2
    exit 2
}

die() {
    echo "build-image.sh: $*" >&2
    exit 1
}

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    usage
fi
deb=$1
layout=$2
[ -f "$deb" ] || die "no such package: $deb"
for tool in umoci dpkg-deb ldd readelf; do
    command -v "$tool" >/dev/null || die "$tool is not installed (run make deps)"
done
tag=${3:-$(dpkg-deb --field "$deb" Version)}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/deb"
agent=$work/deb/usr/lib/stampede/stampede-agent
[ -x "$agent" ] || die "$deb carries no usr/lib/stampede/stampede-agent"

root=$work/rootfs
install -D -m 0755 "$agent" "$root$IMAGE_AGENT"

# The loader the agent names, then every library ldd resolves, each at the
# path the loader looks for it (copied, not linked).
interp=$(readelf --program-headers "$agent" |
    sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
[ -n "$interp" ] || die "$agent names no program interpreter"
install -D -m 0755 "$(readlink -f "$interp")" "$root$interp"
libs=$(ldd "$agent" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
[ -n "$libs" ] || die "ldd found no library for $agent"
for lib in $libs; do
    install -D -m 0644 "$(readlink -f "$lib")" "$root$lib"
done
if ldd "$agent" | grep -q 'not found'; then
    die "a library of $agent is missing on this host: $(ldd "$agent" | grep 'not found')"
fi

# HTTPS targets are checked against the system CA bundle (libcurl's path).
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || die "$ca is missing (apt-get install ca-certificates)"
install -D -m 0644 "$ca" "$root$ca"

# Mount points a container runtime fills; the agent only reads them.
install -d -m 0755 "$root/etc/stampede" "$root/proc" "$root/sys" "$root/dev"
printf 'stampede:x:%s:%s:stampede agent:/nonexistent:/nonexistent\n' \
    "$AGENT_UID" "$AGENT_UID" >"$root/etc/passwd"
printf 'stampede:x:%s:\n' "$AGENT_UID" >"$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"

# As root the layer's files are root's; otherwise umoci maps the caller
# to root (--rootless).
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)

rm -rf "$layout" "$layout.tar"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
# Unpack the empty image, fill its root, repack: one layer. (umoci 0.4.7's
# `insert` writes a layer tar without its end, which tar readers refuse.)
umoci unpack "${rootless[@]}" --image "$layout:$tag" "$work/bundle"
cp -a "$root/." "$work/bundle/rootfs/"
umoci repack --image "$layout:$tag" "$work/bundle"
umoci config --image "$layout:$tag" \
    --os linux --architecture "$(dpkg-deb --field "$deb" Architecture)" \
    --config.user "$AGENT_UID:$AGENT_UID" \
    --config.entrypoint "$IMAGE_AGENT" --clear config.cmd \
    --config.workingdir / \
    --config.env PATH=/usr/bin \
    --config.label org.opencontainers.image.title=stampede-agent \
    --config.label "org.opencontainers.image.version=$tag" \
    --history.created_by "deploy/oci/build-image.sh $(basename "$deb")"
umoci gc --layout "$layout"
tar -C "$layout" -cf "$layout.tar" .
echo "build-image.sh: wrote $layout:$tag and $layout.tar"
