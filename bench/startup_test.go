package bench

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testenv"
)

// BenchmarkStartup measures the real binary from process start (fork and
// exec included) to ready (/readyz answers 200: every selected interface is
// counted, its default ingress and egress programs attached), in a namespace
// holding 1, 10 or 100 veth ends, each iteration a fresh process. It also
// reports the time to the first answer of the HTTP server (the process
// serves, before attaching) and the time from SIGTERM to exit (detaching
// everything).
func BenchmarkStartup(b *testing.B) {
	testenv.RequireRoot(b)
	bin := exporterBinary(b)
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("%d-interfaces", n), func(b *testing.B) {
			a, bns := testenv.NewNetns(b), testenv.NewNetns(b)
			addVeths(b, a, bns, n)
			var ready, serving, stopping samples
			for b.Loop() {
				p := startExporter(b, bns, bin, `"*"`)
				r, s := p.waitReady(b, bns, 60*time.Second)
				stop := p.stop(b)
				ready = append(ready, ms(r))
				serving = append(serving, ms(s))
				stopping = append(stopping, ms(stop))
			}
			report(b, ready, "ready-ms")
			report(b, serving, "serving-ms")
			report(b, stopping, "stop-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// addVeths creates n veth pairs with one end in b, where the exporter runs,
// and the other in a, and brings them up; they go with the namespaces.
func addVeths(tb testing.TB, a, b *testenv.Netns, n int) {
	tb.Helper()
	var inA, inB strings.Builder
	for range n {
		ea, eb := testenv.UniqueName("pesa"), testenv.UniqueName("pesb")
		fmt.Fprintf(&inA, "link add %s type veth peer name %s netns %s\nlink set %s up\n", ea, eb, b.Name, ea)
		fmt.Fprintf(&inB, "link set %s up\n", eb)
	}
	for _, batch := range []struct {
		ns   *testenv.Netns
		cmds string
	}{{a, inA.String()}, {b, inB.String()}} {
		cmd := exec.Command("ip", "-n", batch.ns.Name, "-batch", "-")
		cmd.Stdin = strings.NewReader(batch.cmds)
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("ip -n %s -batch: %v\n%s", batch.ns.Name, err, out)
		}
	}
}
