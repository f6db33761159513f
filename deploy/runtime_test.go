package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/vishvananda/netlink"

	"github.com/packet-exporter/packet-exporter/deploy/internal/image"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// attributionExporter starts the exporter of the Dockerfile's build in ns
// with attribution under the runtime roots of attribution (YAML keys of
// attribution: docker_data_root, containers_storage_root).
func attributionExporter(t *testing.T, ns *testenv.Netns, attribution map[string]string) *testexporter.Exporter {
	t.Helper()
	listen := "127.0.0.1:9743"
	var b strings.Builder
	fmt.Fprintf(&b, "prometheus: {listen_address: %q}\nattribution:\n  enabled: true\n", listen)
	for k, v := range attribution {
		fmt.Fprintf(&b, "  %s: %q\n", k, v)
	}
	cfg := filepath.Join(t.TempDir(), "packet-exporter.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	proc := testexporter.StartExporter(t, testexporter.Options{Name: "packet-exporter (attribution)", Netns: ns, StopTimeout: stopTimeout},
		listen, exporterBinary(t), "--config", cfg)
	proc.WaitReady(t, 60*time.Second)
	return proc
}

// containerVeth returns the name of the veth in ns whose peer is in the
// network namespace of process pid (a container's).
func containerVeth(t *testing.T, ns *testenv.Netns, pid int) string {
	t.Helper()
	var name string
	err := ns.Do(func() error {
		nsid, err := netlink.GetNetNsIdByPid(pid)
		if err != nil {
			return err
		}
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if _, ok := l.(*netlink.Veth); ok && l.Attrs().NetNsID == nsid {
				name = l.Attrs().Name
			}
		}
		return nil
	})
	if err != nil || name == "" {
		t.Fatalf("no veth in %s toward process %d's namespace: %v", ns.Name, pid, err)
	}
	return name
}

// checkAttributed waits until the exporter's info series of veth carries
// the container's ID, name and runtime, then, after stop stops the
// container, until no info series carries its ID.
func checkAttributed(t *testing.T, proc *testexporter.Exporter, veth, id, name, runtime string, stop func()) {
	t.Helper()
	want := map[string]string{"network_interface_name": veth, "container_id": id, "container_name": name, "container_runtime_name": runtime}
	testexporter.WaitFor(t, "the container's veth to be attributed", 15*time.Second, func() (bool, string) {
		m, err := proc.Scrape()
		if err != nil {
			return false, err.Error()
		}
		if v, n := m.Sum("packet_exporter_interface_info", want); n == 1 && v == 1 {
			return true, ""
		}
		return false, fmt.Sprintf("info series of %s: %v", veth, m.Samples("packet_exporter_interface_info", map[string]string{"network_interface_name": veth}))
	})
	stop()
	testexporter.WaitFor(t, "the stopped container's attribution to go", 15*time.Second, func() (bool, string) {
		m, err := proc.Scrape()
		if err != nil {
			return false, err.Error()
		}
		left := m.Samples("packet_exporter_interface_info", map[string]string{"container_id": id})
		return len(left) == 0, fmt.Sprintf("%v", left)
	})
}

// TestAttributionPodman: a container podman starts on its bridge network is
// attributed on its host-side veth as `podman inspect` names it, and loses
// it when stopped. podman runs in a namespace of the test's (nsenter: its
// bridge and veths are made there; `ip netns exec` would hide the cgroup
// mounts), with a containers/storage root of the test's, which the exporter
// is given (attribution.containers_storage_root). The container is make
// image's image, counting its own interface.
func TestAttributionPodman(t *testing.T) {
	pm := newPodman(t)
	requireTool(t, "nsenter")
	build := builtImage(t)
	pm.run(t, "load", "--input", filepath.Join(build.dir, image.TarballName(hostPlatform())))
	tag := imageTags(t)[0].String()
	seccomp, _ := bpfSeccompProfile(t, pm)

	ns := testenv.NewNetns(t)
	proc := attributionExporter(t, ns, map[string]string{"containers_storage_root": pm.storageRoot()})

	name := testenv.UniqueName("pepod")
	args := append([]string{"--net=/run/netns/" + ns.Name, "podman"}, pm.args("run", "--detach", "--name", name, "--network", "bridge",
		"--read-only", "--cap-drop", "ALL", "--cap-add", "BPF", "--cap-add", "NET_ADMIN", "--cap-add", "PERFMON")...)
	if seccomp != "" {
		args = append(args, "--security-opt", "seccomp="+seccomp)
	}
	args = append(append(args, pm.runFlags(t)...), tag)
	if out, err := exec.Command("nsenter", args...).CombinedOutput(); err != nil {
		t.Fatalf("podman run: %v: %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns.Name, "podman"}, pm.args("rm", "--force", name)...)...).Run()
	})
	var id string
	var pid int
	if _, err := fmt.Sscan(pm.run(t, "inspect", "--format", "{{.Id}} {{.State.Pid}}", name), &id, &pid); err != nil {
		t.Fatal(err)
	}
	veth := containerVeth(t, ns, pid)
	checkAttributed(t, proc, veth, id, name, "podman", func() {
		// In the namespace: the network teardown deletes the veth there.
		if out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns.Name, "podman"}, pm.args("stop", "--time", "20", name)...)...).CombinedOutput(); err != nil {
			t.Fatalf("podman stop: %v: %s", err, out)
		}
	})
}

// hostPlatform is the platform of image.Platforms this machine runs.
func hostPlatform() v1.Platform {
	return image.Platforms[slices.IndexFunc(image.Platforms, func(p v1.Platform) bool { return p.Architecture == runtime.GOARCH })]
}

// dockerDaemon is a dockerd of the test's, in a namespace of the test's,
// with every directory of its own.
type dockerDaemon struct {
	dataRoot string
	host     string // the -H of its socket
}

// startDockerd starts dockerd in ns with its data root on a "data disk"
// (a directory of the test's, named in a daemon.json of the test's, as on a
// host whose docker keeps its data elsewhere), its own exec root, socket and
// cgroup parent, and the default bridge network made in ns. Cleanup removes
// its containers, stops it and removes what it left, /etc/docker/key.json
// included when it made it (docker 20.10 writes its trust key there).
func startDockerd(t *testing.T, ns *testenv.Netns) *dockerDaemon {
	t.Helper()
	testenv.RequireRoot(t)
	requireTool(t, "dockerd", "docker", "nsenter", "iptables")
	dir, err := os.MkdirTemp("", "pe-docker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove docker's directories: %v", err)
		}
	})
	const trustKey = "/etc/docker/key.json"
	if _, err := os.Stat(trustKey); os.IsNotExist(err) {
		t.Cleanup(func() {
			os.Remove(trustKey)
			os.Remove(filepath.Dir(trustKey)) // only if empty
		})
	}
	d := &dockerDaemon{dataRoot: filepath.Join(dir, "data-disk", "docker"), host: "unix://" + filepath.Join(dir, "docker.sock")}
	daemonJSON := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(daemonJSON, []byte(fmt.Sprintf("{\"data-root\": %q}\n", d.dataRoot)), 0o644); err != nil {
		t.Fatal(err)
	}
	cgroupParent := "/" + testenv.UniqueName("pedoc")
	testenv.CleanupCgroupTree(t, cgroupParent)
	proc := testexporter.Start(t, testexporter.Options{Name: "dockerd", StopTimeout: 30 * time.Second},
		"nsenter", "--net=/run/netns/"+ns.Name, "dockerd", "--config-file", daemonJSON,
		"--exec-root", filepath.Join(dir, "exec"), "--pidfile", filepath.Join(dir, "docker.pid"),
		"--host", d.host, "--cgroup-parent", cgroupParent)
	testexporter.WaitFor(t, "dockerd to answer", 60*time.Second, func() (bool, string) {
		out, err := exec.Command("docker", "--host", d.host, "version").CombinedOutput()
		if proc.Exited() {
			t.Fatalf("dockerd exited: %s", proc.Output())
		}
		return err == nil, string(out)
	})
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "--host", d.host, "ps", "--all", "--quiet").Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"--host", d.host, "rm", "--force"}, ids...)...).Run()
		}
		// dockerd unmounts its storage when it stops (SIGTERM, by Start's cleanup, which runs next).
	})
	return d
}

// docker runs a docker command against d and returns its output, failing the
// test if it fails.
func (d *dockerDaemon) docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", append([]string{"--host", d.host}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestAttributionDocker: a container a docker daemon starts on its default
// bridge is attributed on its host-side veth as `docker inspect` names it,
// with the daemon's data root moved off /var/lib/docker (given to the
// exporter as attribution.docker_data_root, as daemon.json sets it for
// dockerd), and loses it when stopped. The image is make image's, loaded
// from its tarball; it runs with CAP_SYS_ADMIN for CAP_BPF and CAP_PERFMON,
// which docker 20.10 (Debian 12's) does not know.
func TestAttributionDocker(t *testing.T) {
	ns := testenv.NewNetns(t)
	d := startDockerd(t, ns)
	build := builtImage(t)
	d.docker(t, "load", "--input", filepath.Join(build.dir, image.TarballName(hostPlatform())))
	tag := imageTags(t)[0].String()

	proc := attributionExporter(t, ns, map[string]string{"docker_data_root": d.dataRoot})

	name := testenv.UniqueName("pedoc")
	id := d.docker(t, append(append([]string{"run", "--detach", "--name", name, "--read-only", "--cap-drop", "ALL",
		"--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN"}, ulimitFlags(t)...), tag)...)
	inspect := strings.Fields(d.docker(t, "inspect", "--format", "{{.Id}} {{.Name}} {{.State.Pid}}", name))
	if len(inspect) != 3 || inspect[0] != id {
		t.Fatalf("docker inspect: %q, want the ID docker run printed, %s", inspect, id)
	}
	var pid int
	fmt.Sscan(inspect[2], &pid)
	veth := containerVeth(t, ns, pid)
	checkAttributed(t, proc, veth, id, strings.TrimPrefix(inspect[1], "/"), "docker", func() {
		d.docker(t, "stop", "--time", "20", name)
	})
}
