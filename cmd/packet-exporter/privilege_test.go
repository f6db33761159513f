package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/capability"
	"github.com/packet-exporter/packet-exporter/internal/testing/testcert"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

func capMask(s capability.Set) string { return fmt.Sprintf("%016x", uint64(s)) }

// setprivArgs runs the exporter as nobody with exactly caps (setpriv names,
// e.g. "bpf,net_admin") as its inheritable, ambient and bounding sets, so
// that they become its permitted and effective sets.
func setprivArgs(caps string) []string {
	list := "-all"
	for c := range strings.SplitSeq(caps, ",") {
		if c != "" {
			list += ",+" + c
		}
	}
	return []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=" + list, "--ambient-caps=" + list, "--bounding-set=" + list}
}

// TestLeastPrivilege runs the real binary with nothing but CAP_BPF,
// CAP_NET_ADMIN and CAP_PERFMON as an unprivileged user, and as root: both
// count traffic, attach an interface created after start-up (with the
// capabilities already dropped), and every thread ends up with exactly those
// three capabilities, empty inheritable and ambient sets and no_new_privs.
// Without any one of the three, the binary exits 1 at once with a message
// naming what is missing and leaves nothing attached.
func TestLeastPrivilege(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		testenv.Skip(t, "setpriv not installed (Debian package util-linux): %v", err)
	}
	bin := exporterBinary(t)
	dir := publicDir(t)
	cfg := writePublic(t, dir, "config.yaml", fmt.Sprintf("prometheus:\n  listen_address: %q\n", listenAddress))

	t.Run("nobody with exactly the three", func(t *testing.T) {
		testCountsWithDroppedCapabilities(t, append(setprivArgs("bpf,net_admin,perfmon"), bin, "--config", cfg), false)
	})
	t.Run("root", func(t *testing.T) {
		testCountsWithDroppedCapabilities(t, []string{bin, "--config", cfg}, true)
	})
	t.Run("web configuration readable only with CAP_DAC_OVERRIDE", func(t *testing.T) {
		// Root reads a file of another user's at start-up only through
		// CAP_DAC_OVERRIDE, which is dropped: the exporter must notice at
		// once and stop, rather than fail every request.
		files := testcert.Write(t, t.TempDir())
		web := files.WriteWebConfig(t, "web.yml", testcert.WebConfig{Users: map[string]string{"u": "p"}})
		if err := os.Chown(web, 1000, 1000); err != nil {
			t.Fatal(err)
		}
		a, _, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
		cfg := writeFile(t, "config.yaml", fmt.Sprintf("prometheus:\n  listen_address: %q\n  web_config_file: %q\n", listenAddress, web))
		e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
		if _, code := e.Wait(15 * time.Second); code != 1 {
			t.Fatalf("exit code %d, want 1", code)
		}
		if want := "cannot be used without the dropped capabilities"; !strings.Contains(e.Output(), want) {
			t.Errorf("log lacks %q", want)
		}
		testenv.AssertNothingAttached(t, a, pair.NameA)
	})
	for _, tc := range []struct{ caps, missing string }{
		{"net_admin,perfmon", "CAP_BPF"},
		{"bpf,perfmon", "CAP_NET_ADMIN"},
		{"bpf,net_admin", "CAP_PERFMON"},
		{"", "CAP_BPF (to create the counter maps and load the programs), CAP_NET_ADMIN"},
	} {
		t.Run("without "+tc.missing, func(t *testing.T) {
			a, _, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
			e := startExporter(t, a, append(setprivArgs(tc.caps), bin, "--config", cfg), nil)
			if _, code := e.Wait(10 * time.Second); code != 1 {
				t.Fatalf("exit code %d, want 1", code)
			}
			log := e.Output()
			for _, want := range []string{"missing capabilities: " + tc.missing, "needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON"} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			testenv.AssertNothingAttached(t, a, pair.NameA)
		})
	}
}

func testCountsWithDroppedCapabilities(t *testing.T, argv []string, root bool) {
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true, DisableOffloads: true})
	e := startExporter(t, a, argv, nil)
	e.WaitReady(t, readyTimeout)
	// Logged once Start has returned, which /readyz may answer 200 just before.
	if !e.WaitForLine(5*time.Second, "dropped capabilities no longer needed") {
		t.Errorf("no log line about dropped capabilities")
	}
	want := capMask(capability.Steady)
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", e.Pid()))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of %d: %v %v", e.Pid(), tasks, err)
	}
	for _, task := range tasks {
		s, err := testexporter.ProcStatus(task)
		if err != nil {
			t.Fatal(err)
		}
		wantUID := "65534"
		if root {
			wantUID = "0"
		}
		if !strings.HasPrefix(s["Uid"], wantUID+"\t") {
			t.Errorf("%s: Uid %q, want %s", task, s["Uid"], wantUID)
		}
		for field, w := range map[string]string{"CapEff": want, "CapPrm": want, "CapInh": capMask(0), "CapAmb": capMask(0), "NoNewPrivs": "1"} {
			if s[field] != w {
				t.Errorf("%s: %s %s, want %s", task, field, s[field], w)
			}
		}
		// Root has CAP_SETPCAP at start-up and reduces the bounding set too;
		// setpriv set it already for nobody.
		if s["CapBnd"] != want {
			t.Errorf("%s: CapBnd %s, want %s", task, s["CapBnd"], want)
		}
	}

	// Counting goes on, and an interface created now is attached with the
	// capabilities that are left.
	late := testenv.NewVethPair(t, a, b, testenv.VethOptions{Quiet: true, DisableOffloads: true})
	const datagrams = 25
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	lateSink := testtraffic.ListenUDP(t, a, late.IPv4A.Addr())
	e.WaitMetrics(t, "the late interface to be attached", 10*time.Second, func(m testexporter.Metrics) bool {
		_, n := m.Sum(promAttached, map[string]string{"network_interface_name": late.NameA})
		return n == 2 // the receive and transmit hooks
	})
	size := testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), netip.AddrPortFrom(pair.IPv4A.Addr(), sink.Addr.Port()), datagrams, 32)
	testtraffic.SendUDP(t, b, late.IPv4B.Addr(), netip.AddrPortFrom(late.IPv4A.Addr(), lateSink.Addr.Port()), datagrams, 32)
	m := e.WaitMetrics(t, "the traffic to be counted", 10*time.Second, func(m testexporter.Metrics) bool {
		p, _ := m.Sum(promPackets, udpReceived(pair.NameA))
		q, _ := m.Sum(promPackets, udpReceived(late.NameA))
		return p == datagrams && q == datagrams
	})
	if got, _ := m.Sum(promBytes, udpReceived(pair.NameA)); got != float64(datagrams*size) {
		t.Errorf("bytes %v, want %d", got, datagrams*size)
	}
	if n, _ := m.Sum(promReadErrors, nil); n != 0 {
		t.Errorf("%v kernel read errors with the capabilities dropped", n)
	}
	stopExporter(t, e)
	testenv.AssertNothingAttached(t, a, pair.NameA)
	testenv.AssertNothingAttached(t, a, late.NameA)
}

// TestAttributionAfterCapabilityDrop: with nothing but the three
// capabilities left (as nobody, and as root after its own drop), the
// exporter still tells which process lives in a veth's peer namespace
// (asked by PID over rtnetlink) and reads its cgroup and docker's record:
// the veth is attributed to the container.
func TestAttributionAfterCapabilityDrop(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		testenv.Skip(t, "setpriv not installed (Debian package util-linux): %v", err)
	}
	bin := exporterBinary(t)
	id := strings.Repeat("5e", 32)
	hostRoot := publicDir(t)
	if err := os.Symlink("/proc", filepath.Join(hostRoot, "proc")); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(hostRoot, "var/lib/docker/containers", id)
	if err := os.MkdirAll(record, 0o755); err != nil {
		t.Fatal(err)
	}
	writePublic(t, record, "config.v2.json", `{"Name":"/web"}`)
	cfg := writePublic(t, publicDir(t), "config.yaml",
		fmt.Sprintf("prometheus:\n  listen_address: %q\nattribution:\n  host_root: %q\n", listenAddress, hostRoot))
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"nobody with exactly the three", append(setprivArgs("bpf,net_admin,perfmon"), bin, "--config", cfg)},
		{"root", []string{bin, "--config", cfg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
			cgroup := testenv.NewCgroup(t, testenv.CgroupV2, "system.slice/docker-"+id+".scope")
			e := startExporter(t, a, tc.argv, nil)
			e.WaitReady(t, readyTimeout)
			if !e.WaitForLine(5*time.Second, "dropped capabilities no longer needed") {
				t.Fatal("no log line about dropped capabilities")
			}

			// The container starts once the capabilities are gone.
			container := exec.Command("ip", "netns", "exec", b.Name, "sleep", "300")
			if err := container.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { container.Process.Kill(); container.Wait() })
			cgroup.Add(t, container.Process.Pid)
			want := map[string]string{"network_interface_name": pair.NameA, "container_id": id, "container_name": "web",
				"container_runtime_name": "docker"}
			e.WaitMetrics(t, "the veth attributed to its container", 10*time.Second, func(m testexporter.Metrics) bool {
				n, _ := m.Sum("packet_exporter_interface_info", want)
				return n == 1
			})
		})
	}
}
