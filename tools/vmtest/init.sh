#!/bin/busybox sh
# /init of the vmtest initramfs (see main.go). It loads the modules listed in
# /modules, mounts the host's root file system (9p tag hostroot, read-only)
# under a tmpfs overlay, mounts the run directory (9p tag results, writable) at
# /run/vmtest in it, and runs /run/vmtest/run.sh chrooted there. Host
# directories listed in /run/vmtest/keep (the module, GOCACHE... when they lie
# under /tmp or /run) stay visible through the guest's own /tmp and /run.
# On a kernel of another architecture than the host's, /has-userland exists and
# the userland share (tag userland: that architecture's busybox, whose sh and
# env run run.sh, and ip) is the overlay's upper read-only layer, above the
# host's root, whose executables would not run.
# Whatever happens, it powers the machine off at the end; the host reads the
# tests' exit status from the results share, so a missing status means the run
# broke.

/bin/busybox --install -s /bin
export PATH=/bin
say() { echo "vmtest: $*"; }
stop() { sync; poweroff -f; sleep 5; reboot -f; }
die() { say "$*"; stop; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# No fallback tunnel devices (gre0, gretap0, erspan0, tunl0...) in any
# namespace when the tunnel modules load: a test's namespace holds only the
# interfaces it makes, as on a host that never loaded them.
echo 2 >/proc/sys/net/core/fb_tunnels_only_for_init_net || say "fallback tunnel devices not turned off"

while read -r m; do
	insmod "/lib/modules/$m.ko" || say "module $m: insmod failed"
done </modules

P9=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /mnt/host /mnt/rw /mnt/root /mnt/results
mount -t 9p -o "$P9,ro,cache=loose" hostroot /mnt/host || die "cannot mount the host's root (9p tag hostroot)"
mount -t 9p -o "$P9" results /mnt/results || die "cannot mount the run directory (9p tag results)"
lower=/mnt/host
if [ -e /has-userland ]; then
	mkdir -p /mnt/userland
	mount -t 9p -o "$P9,ro,cache=loose" userland /mnt/userland || die "cannot mount the userland (9p tag userland)"
	lower=/mnt/userland:/mnt/host
fi
mount -t tmpfs -o mode=0755 rw /mnt/rw
mkdir /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=$lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work root /mnt/root ||
	die "cannot mount the overlay root"
R=/mnt/root

n=0
while read -r p; do
	mkdir -p /mnt/keep$n && mount --bind "$R$p" /mnt/keep$n || die "cannot keep $p"
	n=$((n + 1))
done </mnt/results/keep

mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t tmpfs -o mode=0755 run $R/run
mount -t bpf bpf $R/sys/fs/bpf || die "cannot mount bpffs"
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || say "cannot mount cgroup2"
# A cgroup v1 hierarchy too (the pids controller, unused by cgroup2 here), as
# on hosts that still run v1: the attribution tests read both layouts.
mkdir -p $R/run/cgroup-v1-pids
mount -t cgroup -o pids cgroup $R/run/cgroup-v1-pids || say "cannot mount a cgroup v1 hierarchy"
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null || say "no tracefs"
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null || say "no debugfs"

n=0
while read -r p; do
	mkdir -p "$R$p" && mount --move /mnt/keep$n "$R$p" || die "cannot keep $p"
	n=$((n + 1))
done </mnt/results/keep
mkdir -p $R/run/vmtest
mount --move /mnt/results $R/run/vmtest

ip link set lo up
hostname vmtest
ulimit -l unlimited
say "kernel $(uname -r): root ready after $(cut -d' ' -f1 /proc/uptime)s, clock $(date +%s)"
chroot $R /usr/bin/env -i /bin/sh /run/vmtest/run.sh
say "run.sh exited with $?"
stop
