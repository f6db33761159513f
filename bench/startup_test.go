package bench

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// perInterfaceRevision is the last revision whose exporter loaded an
// instance of each program per interface; BenchmarkStartup measures it side
// by side with this one.
const perInterfaceRevision = "cc4bf78"

// perInterfaceSamples caps the iterations that start the per-interface
// design with 1000 interfaces (~27 s each).
const perInterfaceSamples = 3

// BenchmarkStartup measures the real binary from process start (fork and
// exec included) to ready (/readyz answers 200: every selected interface is
// counted, its default ingress and egress programs attached), in a namespace
// holding 1, 10, 100 or 1000 veth ends, each iteration a fresh process, and
// the CPU the exporter used until then (all its threads). It also reports the
// time to the first answer of the HTTP server (the process serves, before
// attaching), the time from SIGTERM to exit (detaching everything), and the
// number of packet-exporter's counting programs loaded once ready (the drop
// counter's program, one per process, is left out: see countingPrograms). The exporter of
// perInterfaceRevision (an instance of each program per interface), built
// from the repository's history, starts in the same namespace in the same
// iterations, alternating with this one (with 1000 interfaces only in the
// first perInterfaceSamples iterations); without the history, and in smoke
// runs, it is left out. In the same iterations, after them, an exporter with
// persistence starts and adopts what one started and stopped (SIGTERM) just
// before left (every interface counted, its links pinned): its time to ready
// and CPU (adopt-ready-ms, adopt-ready-cpu-ms), checking that it detached
// nothing to adopt (the pinned links are the previous run's); the state is
// then removed.
func BenchmarkStartup(b *testing.B) {
	testenv.RequireRoot(b)
	bin := exporterBinary(b)
	sizes := []int{1, 10, 100, 1000}
	before := ""
	if *smoke {
		sizes = []int{1, 10}
	} else if bin, err := revisionBinary(b, perInterfaceRevision); err != nil {
		b.Logf("the per-interface design is not measured: %v", err)
	} else {
		before = bin
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("%d-interfaces", n), func(b *testing.B) {
			a, bns := testenv.NewNetns(b), testenv.NewNetns(b)
			testenv.AddVeths(b, a, bns, n, "pesa%d", "pesb%d")
			pins := filepath.Join(testenv.MountBPFFS(b), "pe")
			persistence := fmt.Sprintf("persistence:\n  enabled: true\n  path: %q\n", pins)
			f := figures{}
			iteration := 0
			for b.Loop() {
				p := startExporter(b, bns, bin, `"*"`)
				r, s := p.waitReady(b, 60*time.Second)
				f.add("ready-cpu-ms", ms(p.cpuTime(b)))
				f.add("programs-loaded", float64(countingPrograms(b, p.Pid())))
				stop := p.stop(b)
				f.add("ready-ms", ms(r))
				f.add("serving-ms", ms(s))
				f.add("stop-ms", ms(stop))
				if before != "" && (n < 1000 || iteration < perInterfaceSamples) {
					p := startExporter(b, bns, before, `"*"`)
					r, _ := p.waitReady(b, 120*time.Second)
					f.add("perif-ready-cpu-ms", ms(p.cpuTime(b)))
					f.add("perif-programs-loaded", float64(countingPrograms(b, p.Pid())))
					p.stop(b)
					f.add("perif-ready-ms", ms(r))
				}
				// Adopting: a run with persistence leaves its state (not
				// measured), the next one takes it over (measured), and the
				// state is removed, so that the starts above never attach
				// beside pinned links (where each tcx attachment waits for
				// an RCU grace period).
				left := startExporter(b, bns, bin, `"*"`, persistence)
				left.waitReady(b, 60*time.Second)
				left.stop(b)
				links := pinnedLinkIDs(b, pins)
				if len(links) != 2*n {
					b.Fatalf("%d links pinned, want 2 per interface", len(links))
				}
				adopter := startExporter(b, bns, bin, `"*"`, persistence)
				r, _ = adopter.waitReady(b, 60*time.Second)
				f.add("adopt-ready-cpu-ms", ms(adopter.cpuTime(b)))
				if got := pinnedLinkIDs(b, pins); !maps.Equal(got, links) {
					b.Fatalf("links pinned after the adopting start differ from the previous run's: %d links, %d before", len(got), len(links))
				}
				adopter.stop(b)
				f.add("adopt-ready-ms", ms(r))
				uninstall := exec.Command("ip", "netns", "exec", bns.Name, bin, "--uninstall")
				uninstall.Env = append(testexporter.Environ(), "PE_PERSISTENCE_PATH="+pins)
				if out, err := uninstall.CombinedOutput(); err != nil {
					b.Fatalf("--uninstall: %v\n%s", err, out)
				}
				iteration++
			}
			f.report(b)
		})
	}
}

// revisionBinary builds the exporter of an earlier revision of this
// repository (git archive of it, built like exporterBinary), or returns an
// error when the history or the build is not available.
func revisionBinary(tb testing.TB, revision string) (string, error) {
	tb.Helper()
	dir := tb.TempDir()
	archive := exec.Command("git", "archive", "--format=tar", revision)
	archive.Dir = ".."
	tarball, err := archive.Output()
	if err != nil {
		return "", fmt.Errorf("git archive %s: %w", revision, err)
	}
	untar := exec.Command("tar", "-x", "-C", dir)
	untar.Stdin = bytes.NewReader(tarball)
	if out, err := untar.CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack %s: %v: %s", revision, err, out)
	}
	program := &testexporter.Program{
		Name: "packet-exporter",
		Dir:  dir,
		Command: func(out string) (env, args []string, err error) {
			env, args = testexporter.MakeBuild(revision, out)
			return env, args, nil
		},
	}
	bin, err := program.Build()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", revision, err)
	}
	return bin, nil
}

// pinnedLinkIDs returns the IDs of the links pinned under dir (any depth),
// by pin path.
func pinnedLinkIDs(tb testing.TB, dir string) map[string]link.ID {
	tb.Helper()
	ids := map[string]link.ID{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(filepath.Dir(path)) != "links" {
			return err
		}
		l, err := link.LoadPinnedLink(path, nil)
		if err != nil {
			return err
		}
		defer l.Close()
		info, err := l.Info()
		if err != nil {
			return err
		}
		ids[path] = info.ID
		return nil
	})
	if err != nil {
		tb.Fatalf("pinned links: %v", err)
	}
	return ids
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// countingPrograms returns how many traffic-counting programs process pid
// holds: its pe_count programs but the drop counter's (pe_count_drop), one
// per process whatever the interfaces, which starts beside them and may or
// may not be loaded when the exporter is ready.
func countingPrograms(tb testing.TB, pid int) int {
	tb.Helper()
	n := 0
	for id := range newPEProgramSet().heldPrograms(tb, pid) {
		if name, err := programName(id); err == nil && name != "pe_count_drop" {
			n++
		}
	}
	return n
}
