package attribution

import (
	"os"
	"strconv"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// BenchmarkResolveHost measures one lookup over this machine's processes:
// "full" asks every process's namespace (a first scan, and every
// fullScanEvery-th), "incremental" only those of processes new since the
// last scan, the common case.
func BenchmarkResolveHost(b *testing.B) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	processes := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			processes++
		}
	}
	b.Logf("%d processes", processes)
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE) // one socket for every request, as the receiver's
	if err != nil {
		b.Fatal(err)
	}
	defer nl.Close()
	nsids := []int{1 << 30} // a namespace ID no process has: every process is asked, none read
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewResolver(Roots{Host: "/", DockerData: DefaultDockerDataRoot, ContainersStorage: "/var/lib/containers/storage"}, nl.GetNetNsIdByPid).Resolve(nsids); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(processes), "ns/process")
	})
	b.Run("incremental", func(b *testing.B) {
		r := NewResolver(Roots{Host: "/", DockerData: DefaultDockerDataRoot, ContainersStorage: "/var/lib/containers/storage"}, nl.GetNetNsIdByPid)
		for b.Loop() {
			r.scans = 1 // never a full scan
			if _, err := r.Resolve(nsids); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(processes), "ns/process")
	})
}
