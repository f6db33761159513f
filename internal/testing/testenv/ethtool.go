package testenv

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue mirrors struct ethtool_value from <linux/ethtool.h>.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData mirrors struct ifreq with the ifr_data member of the union in use.
// The padding keeps the size equal to the kernel's 40-byte struct ifreq.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// offloadFeature is one legacy ethtool get/set command pair for a feature.
type offloadFeature struct {
	name     string
	get, set uint32
}

// offloads are the features that make one skb differ from one wire frame.
// TX checksumming is listed first because the kernel drops TSO when it goes.
var offloads = []offloadFeature{
	{"tx-checksumming", unix.ETHTOOL_GTXCSUM, unix.ETHTOOL_STXCSUM},
	{"tcp-segmentation-offload", unix.ETHTOOL_GTSO, unix.ETHTOOL_STSO},
	{"generic-segmentation-offload", unix.ETHTOOL_GGSO, unix.ETHTOOL_SGSO},
	{"generic-receive-offload", unix.ETHTOOL_GGRO, unix.ETHTOOL_SGRO},
}

// ethtoolIoctl issues one SIOCETHTOOL request with an ethtool_value argument on
// the interface ifname of the network namespace of the calling thread.
func ethtoolIoctl(ifname string, v *ethtoolValue) error {
	if len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q too long", ifname)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket for ethtool ioctl: %w", err)
	}
	defer unix.Close(fd)
	ifr := &ifreqData{data: unsafe.Pointer(v)}
	copy(ifr.name[:], ifname)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr)))
	runtime.KeepAlive(ifr)
	runtime.KeepAlive(v)
	if errno != 0 {
		return errno
	}
	return nil
}

// setOffloads turns the offload features of ifname off (on == false) or on.
// It must run inside the interface's namespace (see Netns.Do).
func setOffloads(ifname string, on bool) error {
	var want uint32
	if on {
		want = 1
	}
	for _, f := range offloads {
		if err := ethtoolIoctl(ifname, &ethtoolValue{cmd: f.set, data: want}); err != nil {
			return fmt.Errorf("ethtool set %s=%d on %s: %w", f.name, want, ifname, err)
		}
	}
	return nil
}

// getOffloads reports which offload features of ifname are on. It must run
// inside the interface's namespace (see Netns.Do).
func getOffloads(ifname string) (map[string]bool, error) {
	res := make(map[string]bool, len(offloads))
	for _, f := range offloads {
		v := &ethtoolValue{cmd: f.get}
		if err := ethtoolIoctl(ifname, v); err != nil {
			return nil, fmt.Errorf("ethtool get %s on %s: %w", f.name, ifname, err)
		}
		res[f.name] = v.data != 0
	}
	return res, nil
}

// SetOffload turns one offload feature of interface name in ns on or off:
// set is its legacy ethtool set command (unix.ETHTOOL_SGRO, ETHTOOL_STSO,
// ETHTOOL_SGSO, ...).
func SetOffload(tb testing.TB, ns *Netns, name string, set uint32, on bool) {
	tb.Helper()
	if err := TrySetOffload(ns, name, set, on); err != nil {
		tb.Fatal(err)
	}
}

// TrySetOffload is SetOffload returning its error: one wrapping
// unix.EOPNOTSUPP where the device cannot change the feature.
func TrySetOffload(ns *Netns, name string, set uint32, on bool) error {
	var data uint32
	if on {
		data = 1
	}
	if err := ns.Do(func() error { return ethtoolIoctl(name, &ethtoolValue{cmd: set, data: data}) }); err != nil {
		return fmt.Errorf("ethtool set %#x=%d on %s: %w", set, data, name, err)
	}
	return nil
}
