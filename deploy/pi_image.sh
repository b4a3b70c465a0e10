#!/bin/sh
# Build a Debian bookworm arm64 userland (a "Pi without a Pi") for `make test-arm64`.
#
# Usage: deploy/pi_image.sh [ROOT]   (default $EDGESIGN_PI_ROOT or /var/cache/edgesign/pi-arm64)
# Needs root, debootstrap, qemu-user-static and a binfmt_misc entry for aarch64 with the F flag
# (Debian's qemu-user-static + binfmt-support register one). The result is cached: a second run
# returns at once. Nothing from the host is bind-mounted; debootstrap mounts a private /proc and
# /sys only while it runs and this script checks that nothing is left mounted under ROOT.
set -eu

ROOT=${1:-${EDGESIGN_PI_ROOT:-/var/cache/edgesign/pi-arm64}}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# python3-numpy: Raspberry Pi OS ships apt's numpy (for picamera2); the deployed venv must use it.
PACKAGES=python3,python3-venv,python3-numpy,openssh-server,rsync,procps
READY=.edgesign-pi-image-ready

if [ -f "$ROOT/$READY" ] && grep -qx "packages=$PACKAGES" "$ROOT/$READY"; then
    echo "pi-image: $ROOT is ready (delete it to rebuild)"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "pi-image: needs root (debootstrap and chroot)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null || [ ! -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ]; then
    echo "pi-image: installing debootstrap qemu-user-static binfmt-support with apt"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        debootstrap qemu-user-static binfmt-support >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    # binfmt_misc is often not mounted inside containers; the kernel supports it here.
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64
fi

PARTIAL="$ROOT.partial"
leftover_mounts() { awk -v p="$PARTIAL/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r; }
cleanup() {
    for m in $(leftover_mounts); do umount "$m" || umount -l "$m"; done
}
trap cleanup EXIT INT TERM

rm -rf "$PARTIAL"
mkdir -p "$(dirname "$ROOT")"
start=$(date +%s)
debootstrap --arch=arm64 --variant=minbase --include="$PACKAGES" bookworm "$PARTIAL" "$MIRROR"
cleanup
[ -z "$(leftover_mounts)" ] || { echo "pi-image: could not unmount $(leftover_mounts)" >&2; exit 1; }

# The deploy target account, as on Raspberry Pi OS. Password field `*` (not `!`): sshd with
# `UsePAM no` refuses accounts whose password is locked, even for key logins.
chroot "$PARTIAL" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /usr/sbin/useradd --create-home --shell /bin/bash pi
chroot "$PARTIAL" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/usermod -p '*' pi
chroot "$PARTIAL" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/bin/apt-get clean
rm -f "$PARTIAL"/etc/ssh/ssh_host_*  # the test server makes throwaway host keys per run
mkdir -p "$PARTIAL/run/sshd"
printf 'bookworm arm64 %s\npackages=%s\n' "$(date -u +%FT%TZ)" "$PACKAGES" > "$PARTIAL/$READY"

rm -rf "$ROOT"
mv "$PARTIAL" "$ROOT"
echo "pi-image: built $ROOT in $(( $(date +%s) - start )) s"
