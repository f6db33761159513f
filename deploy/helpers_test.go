package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// requiredCaps are the capabilities packet-exporter needs (without the CAP_
// prefix); every deployment file grants exactly these.
var requiredCaps = []string{"BPF", "NET_ADMIN", "PERFMON"}

// repoRoot is the repository's top directory (the product module), above
// this module's directory.
var repoRoot = func() string {
	root, err := testexporter.RepoRoot()
	if err != nil {
		panic(err)
	}
	return root
}()

// repoPath joins path elements to repoRoot.
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{repoRoot}, elem...)...)
}

// readRepoFile returns the content of a file of the repository.
func readRepoFile(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMain(m *testing.M) {
	os.Exit(testexporter.Run(m))
}

// stopTimeout is how long the cleanup of a test waits for a process it
// stopped with SIGTERM before it kills it (and fails the test).
const stopTimeout = 10 * time.Second

// requireTool skips the test (fails it under CI=true) when a command is
// missing; .ci/run installs them all.
func requireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			testenv.Skip(t, "%s not found (on Debian: see .ci/run for the packages): %v", name, err)
		}
	}
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b)) && len(a) == len(b)
}

// capsFlag renders capability names as a setpriv capability list
// ("-all,+bpf,+net_admin,+perfmon").
func capsFlag(caps []string) string {
	var b strings.Builder
	b.WriteString("-all")
	for _, c := range caps {
		b.WriteString(",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return b.String()
}

// containerCredentials is the setpriv prefix that runs a program as a
// container runtime runs the image with cap_drop ALL + cap_add caps and
// no-new-privileges: uid 0 whose bounding set, and so permitted and effective
// sets after exec, hold only caps.
func containerCredentials(caps []string) []string {
	return []string{"setpriv", "--bounding-set=" + capsFlag(caps), "--inh-caps=-all", "--no-new-privs", "--"}
}

// countsUDP sends n datagrams of payload bytes from b to a over pair and
// waits until proc has counted exactly them (packets and bytes) as received
// on pair's interface in a.
func countsUDP(t *testing.T, proc *testexporter.Exporter, a, b *testenv.Netns, pair *testenv.VethPair, n, payload int) {
	t.Helper()
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	size := testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, n, payload)
	testexporter.WaitFor(t, "the datagrams to be counted", 10*time.Second, func() (bool, string) {
		m, err := proc.Scrape()
		if err != nil {
			return false, err.Error()
		}
		received := map[string]string{"network_interface_name": pair.NameA, "network_io_direction": "receive", "network_transport": "udp"}
		pk, _ := m.Sum("packet_exporter_network_packets_total", received)
		by, _ := m.Sum("packet_exporter_network_io_bytes_total", received)
		return pk == float64(n) && by == float64(n*size), fmt.Sprintf("%g packets, %g bytes, want %d and %d", pk, by, n, n*size)
	})
}
