package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Pod is a Kubernetes pod as workload attribution finds it on a node: its
// log directory and its container's log link under a host root, and a
// process of the container in the pod's network namespace, in the
// container's cgroup (cgroup v2, the systemd driver, containerd).
type Pod struct {
	Namespace, Name, UID, Container string
	// HostRoot is the host root to configure as attribution.host_root.
	HostRoot string
}

// NewPod makes pod name of Kubernetes namespace namespace, with one
// container, whose network namespace is ns; cleanup stops its process and
// removes its cgroup and files.
func NewPod(tb testing.TB, ns *Netns, namespace, name, container string) *Pod {
	tb.Helper()
	p := &Pod{Namespace: namespace, Name: name, Container: container, HostRoot: tb.TempDir()}
	uid := randomHex(tb, 16)
	p.UID = uid[:8] + "-" + uid[8:12] + "-" + uid[12:16] + "-" + uid[16:20] + "-" + uid[20:]
	id := randomHex(tb, 32)
	if err := os.Symlink("/proc", filepath.Join(p.HostRoot, "proc")); err != nil {
		tb.Fatal(err)
	}
	for _, dir := range []string{"var/log/pods/" + namespace + "_" + name + "_" + p.UID, "var/log/containers"} {
		if err := os.MkdirAll(filepath.Join(p.HostRoot, dir), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	link := filepath.Join(p.HostRoot, "var/log/containers", name+"_"+namespace+"_"+container+"-"+id+".log")
	if err := os.WriteFile(link, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	cgroup := NewCgroup(tb, CgroupV2, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"+
		strings.ReplaceAll(p.UID, "-", "_")+".slice/cri-containerd-"+id+".scope")
	if cgroup == nil {
		return nil // skipped
	}
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "sleep", "3600") // ip execs sleep in its place
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the pod's process: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	cgroup.Add(tb, cmd.Process.Pid)
	return p
}

// randomHex returns n random bytes in hex.
func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(fmt.Errorf("random bytes: %w", err))
	}
	return hex.EncodeToString(b)
}
