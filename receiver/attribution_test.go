package receiver_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// allKeys keeps every attribute in collectKeys' series keys.
func allKeys(attribute.Key) bool { return true }

// TestInterfaceInfo: every counted interface has an info series with its
// kind and, when enslaved, its master; a veth whose peer is in the same
// namespace has no workload, and nothing is unresolved. Kinds this kernel
// has no driver for are left out (Kind's own test covers every one).
func TestInterfaceInfo(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.NewNetns(t)
	prefix := testenv.UniqueName("k")
	name := func(s string) string { return prefix + s }
	la := func(s string) netlink.LinkAttrs { return netlink.LinkAttrs{Name: name(s)} }
	lower := func(s, parent string) netlink.LinkAttrs {
		a := la(s)
		a.ParentIndex = linkIndex(t, ns, name(parent))
		return a
	}
	want := map[string]string{} // kind by link
	masters := map[string]string{}
	add := func(l netlink.Link, kind string) bool {
		t.Helper()
		if err := ns.Do(func() error { return netlink.LinkAdd(l) }); errors.Is(err, unix.EOPNOTSUPP) {
			t.Logf("no %s link on this kernel", kind)
			return false
		} else if err != nil {
			t.Fatalf("add %s: %v", kind, err)
		}
		s := strings.TrimPrefix(l.Attrs().Name, prefix)
		want[s] = kind
		if veth, ok := l.(*netlink.Veth); ok {
			want[strings.TrimPrefix(veth.PeerName, prefix)] = kind
		}
		return true
	}
	add(&netlink.Veth{LinkAttrs: la("va"), PeerName: name("vb")}, "veth")
	add(&netlink.Bridge{LinkAttrs: la("br")}, "bridge")
	add(&netlink.Vxlan{LinkAttrs: la("vx"), VxlanId: 42, Port: 4789}, "vxlan")
	add(&netlink.Tuntap{LinkAttrs: la("tp"), Mode: netlink.TUNTAP_MODE_TAP}, "tun")
	add(&netlink.Macvlan{LinkAttrs: lower("mv", "va"), Mode: netlink.MACVLAN_MODE_BRIDGE}, "macvlan")
	add(&netlink.Vlan{LinkAttrs: lower("vl", "va"), VlanId: 42}, "vlan")
	// Not beside a macvlan: a device takes one or the other.
	add(&netlink.Veth{LinkAttrs: la("ia"), PeerName: name("ib")}, "veth")
	add(&netlink.IPVlan{LinkAttrs: lower("iv", "ia"), Mode: netlink.IPVLAN_MODE_L2}, "ipvlan")
	add(&netlink.Geneve{LinkAttrs: la("ge"), ID: 7, Remote: []byte{10, 9, 9, 9}}, "geneve")
	add(&netlink.Dummy{LinkAttrs: la("du")}, "dummy")
	enslave(t, ns, name("vb"), name("br"))
	masters["vb"] = name("br")
	bond := netlink.NewLinkBond(la("bo")) // every option unset, not zero
	bond.Mode = netlink.BOND_MODE_ACTIVE_BACKUP
	if add(bond, "bond") {
		add(&netlink.Veth{LinkAttrs: la("vc"), PeerName: name("vd")}, "veth")
		enslave(t, ns, name("vc"), name("bo"))
		masters["vc"] = name("bo")
	}
	// Lower devices first: a VLAN, macvlan or ipvlan cannot come up while
	// its lower device is down (ENETDOWN).
	stacked := map[string]bool{"vlan": true, "macvlan": true, "ipvlan": true}
	if err := ns.Do(func() error {
		for _, upper := range []bool{false, true} {
			for s, kind := range want {
				if stacked[kind] != upper {
					continue
				}
				if err := netlink.LinkSetUp(&netlink.Device{LinkAttrs: la(s)}); err != nil {
					return fmt.Errorf("set %s up: %w", name(s), err)
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	recv := startIn(t, ns, func(c *config.Config) { c.Interfaces.Include = []string{prefix + "*"} })
	waitFor(t, 5*time.Second, "every interface attached", func() bool { return len(recv.Attached()) == len(want) })
	wantInfo := map[string]int64{}
	for s, kind := range want {
		key := "network.interface.name=" + name(s) + ",packet_exporter.interface.kind=" + kind
		if m, ok := masters[s]; ok {
			key += ",packet_exporter.interface.master=" + m
		}
		wantInfo[key] = 1
	}
	got := collectKeys(t, recv, allKeys)
	if !equalCounts(got[metricdef.InterfaceInfo.Name], wantInfo) {
		t.Errorf("info series:\n got  %v\n want %v", got[metricdef.InterfaceInfo.Name], wantInfo)
	}
	for key, n := range got[metricdef.AttributionUnresolved.Name] {
		if n != 0 {
			t.Errorf("unresolved %s = %d, want 0: no veth has its peer in another namespace", key, n)
		}
	}

	// Freed from its bridge, vb has no master any more.
	if err := ns.Do(func() error { return netlink.LinkSetNoMaster(&netlink.Device{LinkAttrs: la("vb")}) }); err != nil {
		t.Fatal(err)
	}
	freed := "network.interface.name=" + name("vb") + ",packet_exporter.interface.kind=veth"
	waitFor(t, 5*time.Second, "vb's info without master", func() bool {
		_, ok := collectKeys(t, recv, allKeys)[metricdef.InterfaceInfo.Name][freed]
		return ok
	})
}

func linkIndex(t *testing.T, ns *testenv.Netns, name string) int {
	t.Helper()
	var index int
	if err := ns.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err == nil {
			index = l.Attrs().Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return index
}

// enslave makes link name a port of master (bonds take only links that are
// down; it is left down).
func enslave(t *testing.T, ns *testenv.Netns, name, master string) {
	t.Helper()
	if err := ns.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		m, err := netlink.LinkByName(master)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetDown(l); err != nil {
			return err
		}
		return netlink.LinkSetMaster(l, m)
	}); err != nil {
		t.Fatal(err)
	}
}

// startProcess starts a long-running process in namespace ns, killed at cleanup.
func startProcess(t *testing.T, ns *testenv.Netns) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "sleep", "300") // ip execs sleep in its place
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(cmd) })
	return cmd
}

func stopProcess(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// TestWorkloadAttribution: a pod's veth (its peer in the pod's namespace)
// gets the pod and its one container on its info series within 2 s of the
// container's start, with kubelet's systemd cgroup layout on cgroup v2 and
// its cgroupfs layout on cgroup v1 (the runtime then told by its state);
// the pod's sandbox is not taken for its container; with
// attribution.on_series the traffic series carry the pod too; the pod's
// series (k8s.pod.network.*) count, from the pod's side and on its name of
// the interface, exactly what crossed the veth (none with
// conventions.pod_metrics off); the workload and the pod's series go as its
// processes exit.
func TestWorkloadAttribution(t *testing.T) {
	testenv.RequireRoot(t)
	const (
		uid       = "0e2a6c27-1f3d-4a8b-9c1e-5d6f7a8b9c0d"
		namespace = "shop"
		pod       = "web-5d8f"
		container = "nginx"
	)
	appID := strings.Repeat("ab", 32)
	sandboxID := strings.Repeat("cd", 32)
	for _, tt := range []struct {
		name     string
		cgroup   string
		scope    func(id string) string // the container's cgroup
		state    string                 // the runtime's state directory of the container, "" for none
		onSeries bool
		noPods   bool // conventions.pod_metrics: false
	}{
		{"cgroup v2, systemd driver", testenv.CgroupV2, func(id string) string {
			return "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(uid, "-", "_") +
				".slice/cri-containerd-" + id + ".scope"
		}, "", false, false},
		{"cgroup v1, cgroupfs driver, on the traffic series", testenv.CgroupV1, func(id string) string {
			return "kubepods/besteffort/pod" + uid + "/" + id
		}, "run/containerd/io.containerd.runtime.v2.task/k8s.io/" + appID, true, false},
		{"cgroup v2, systemd driver, without the pods' series", testenv.CgroupV2, func(id string) string {
			return "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(uid, "-", "_") +
				".slice/cri-containerd-" + id + ".scope"
		}, "", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hostRoot := t.TempDir()
			if err := os.Symlink("/proc", filepath.Join(hostRoot, "proc")); err != nil {
				t.Fatal(err)
			}
			for _, dir := range []string{"var/log/pods/" + namespace + "_" + pod + "_" + uid, "var/log/containers", tt.state} {
				if err := os.MkdirAll(filepath.Join(hostRoot, dir), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			link := filepath.Join(hostRoot, "var/log/containers", pod+"_"+namespace+"_"+container+"-"+appID+".log")
			if err := os.WriteFile(link, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			appCgroup := testenv.NewCgroup(t, tt.cgroup, tt.scope(appID))
			sandboxCgroup := testenv.NewCgroup(t, tt.cgroup, tt.scope(sandboxID))

			a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
			recv := startCounting(t, a, pair.NameA, func(c *config.Config) {
				c.Attribution.HostRoot = hostRoot
				c.Attribution.OnSeries = tt.onSeries
				c.Conventions.PodMetrics = !tt.noPods
			})
			veth := "network.interface.name=" + pair.NameA + ",packet_exporter.interface.kind=veth"
			info := func() map[string]int64 { return collectKeys(t, recv, allKeys)[metricdef.InterfaceInfo.Name] }
			unresolved := func(reason string) int64 {
				return collectKeys(t, recv, allKeys)[metricdef.AttributionUnresolved.Name]["error.type="+reason]
			}
			waitFor(t, 3*time.Second, "no_process unresolved", func() bool { return unresolved("no_process") == 1 })
			if got := info(); !equalCounts(got, map[string]int64{veth: 1}) {
				t.Errorf("before the pod started: info %v, want only %s", got, veth)
			}

			sandbox := startProcess(t, b)
			sandboxCgroup.Add(t, sandbox.Process.Pid)
			app := startProcess(t, b)
			appCgroup.Add(t, app.Process.Pid)
			started := time.Now()
			podAttrs := "k8s.namespace.name=" + namespace + ",k8s.pod.name=" + pod + ",k8s.pod.uid=" + uid
			full := "container.id=" + appID + ",container.name=" + container + ",container.runtime.name=containerd," + podAttrs + "," +
				"network.interface.name=" + pair.NameA + ",packet_exporter.interface.kind=veth"
			waitFor(t, 2*time.Second, "the pod's container attributed", func() bool { return info()[full] == 1 })
			t.Logf("attributed %v after the container started", time.Since(started).Round(time.Millisecond))
			if got := info(); len(got) != 1 {
				t.Errorf("info %v, want only %s", got, full)
			}
			for key, n := range collectKeys(t, recv, allKeys)[metricdef.AttributionUnresolved.Name] {
				if n != 0 {
					t.Errorf("unresolved %s = %d once attributed, want 0", key, n)
				}
			}

			const frames = 5
			frame := tf.MustBuild(tf.Frame{Dst: [6]byte(pair.MACA), Src: [6]byte(pair.MACB), IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 9, DstPort: 9}})
			for range frames {
				testtraffic.SendFrames(t, b, pair.IndexB, frame)
			}
			series := "container.name=" + container + ",k8s.namespace.name=" + namespace + ",k8s.pod.name=" + pod + "," +
				"network.interface.name=" + pair.NameA + ",network.io.direction=receive,network.transport=udp,network.type=ipv4"
			if !tt.onSeries {
				series = "network.interface.name=" + pair.NameA + ",network.io.direction=receive,network.transport=udp,network.type=ipv4"
			}
			waitFor(t, 5*time.Second, "the frames counted", func() bool {
				return collectKeys(t, recv, allKeys)[metricdef.NetworkPackets.Name][series] == frames
			})
			// The pod's series, from its side: it transmitted what the host's
			// end received, on its interface (the veth's peer, by its name),
			// and received what the host's end sent it.
			const sentToPod = 3
			toPod := tf.MustBuild(tf.Frame{Dst: [6]byte(pair.MACB), Src: [6]byte(pair.MACA), IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 7, DstPort: 7}, Payload: make([]byte, 100)})
			for range sentToPod {
				testtraffic.SendFrames(t, a, pair.IndexA, toPod)
			}
			podSeries := func(direction string) string {
				return podAttrs + ",network.interface.name=" + pair.NameB + ",network.io.direction=" + direction
			}
			wantPod := map[string]int64{podSeries("transmit"): frames * int64(len(frame)), podSeries("receive"): sentToPod * int64(len(toPod))}
			wantErrors := map[string]int64{podSeries("transmit"): 0, podSeries("receive"): 0}
			if tt.noPods {
				wantPod, wantErrors = map[string]int64{}, map[string]int64{}
				// The frames to the pod counted on the host's end, and no pod series.
				toPodSeries := "network.interface.name=" + pair.NameA + ",network.io.direction=transmit,network.transport=udp,network.type=ipv4"
				waitFor(t, 5*time.Second, "the frames to the pod counted", func() bool {
					return collectKeys(t, recv, allKeys)[metricdef.NetworkPackets.Name][toPodSeries] == sentToPod
				})
			}
			waitFor(t, 5*time.Second, "the pod's series", func() bool {
				return equalCounts(collectKeys(t, recv, allKeys)[metricdef.K8sPodNetworkIO.Name], wantPod)
			})
			if got := collectKeys(t, recv, allKeys)[metricdef.K8sPodNetworkErrors.Name]; !equalCounts(got, wantErrors) {
				t.Errorf("pod errors %v, want %v", got, wantErrors)
			}

			// The container exits: its pod stays while its sandbox lives.
			stopProcess(app)
			podOnly := podAttrs + ",network.interface.name=" + pair.NameA + ",packet_exporter.interface.kind=veth"
			waitFor(t, 3*time.Second, "the container gone", func() bool { return info()[podOnly] == 1 })
			stopProcess(sandbox)
			waitFor(t, 3*time.Second, "the pod gone", func() bool { return info()[veth] == 1 && unresolved("no_process") == 1 })
			if got := collectKeys(t, recv, allKeys); len(got[metricdef.K8sPodNetworkIO.Name])+len(got[metricdef.K8sPodNetworkErrors.Name]) != 0 {
				t.Errorf("the pod gone, its series stay: %v, %v", got[metricdef.K8sPodNetworkIO.Name], got[metricdef.K8sPodNetworkErrors.Name])
			}
		})
	}
}

// TestAttributionDisabled: with attribution.enabled false, the info series
// keeps kind and master, nothing is looked up and no unresolved series is
// exported.
func TestAttributionDisabled(t *testing.T) {
	testenv.RequireRoot(t)
	a, _, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	recv := startCounting(t, a, pair.NameA, func(c *config.Config) {
		c.Attribution.Enabled = false
		c.Attribution.HostRoot = filepath.Join(t.TempDir(), "absent") // would fail a lookup
	})
	time.Sleep(1500 * time.Millisecond) // a lookup would have run by now
	got := collectKeys(t, recv, allKeys)
	want := map[string]int64{"network.interface.name=" + pair.NameA + ",packet_exporter.interface.kind=veth": 1}
	if !equalCounts(got[metricdef.InterfaceInfo.Name], want) {
		t.Errorf("info %v, want %v", got[metricdef.InterfaceInfo.Name], want)
	}
	if s, ok := got[metricdef.AttributionUnresolved.Name]; ok {
		t.Errorf("unresolved series %v exported with attribution off", s)
	}
}
