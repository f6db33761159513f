package deploy

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/deploy/internal/image"
	"github.com/packet-exporter/packet-exporter/internal/capability"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// podman is Debian's podman with a storage, run directory and temporary
// directory of the test's own, so that it neither sees nor leaves images or
// containers on the host. Its containers run with runc: crun refuses this
// kind of machine's hybrid cgroup hierarchy.
type podman struct {
	global       []string // the global flags
	cgroupParent string   // the cgroup of its containers, removed at cleanup
}

// newPodman returns a podman whose state the test's cleanup removes
// (containers, images, then the directories).
func newPodman(t testing.TB) *podman {
	t.Helper()
	testenv.RequireRoot(t)
	requireTool(t, "podman", "runc")
	dir, err := os.MkdirTemp("", "pe-podman-")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{global: []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--events-backend", "file", "--runtime", "runc",
	}, cgroupParent: "/" + testenv.UniqueName("pepod")}
	testenv.CleanupCgroupTree(t, p.cgroupParent)
	t.Cleanup(func() {
		// system reset removes containers, images and their mounts.
		if out, err := exec.Command("podman", p.args("system", "reset", "--force")...).CombinedOutput(); err != nil {
			t.Errorf("podman system reset: %v: %s", err, out)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove podman's directories: %v", err)
		}
	})
	return p
}

// storageRoot is the root of podman's containers/storage.
func (p *podman) storageRoot() string { return p.global[1] }

// runFlags are the flags every container of p runs with: the cgroup parent
// of its own, and limits within this process's (ulimitFlags).
func (p *podman) runFlags(t testing.TB) []string {
	return append([]string{"--cgroup-parent", p.cgroupParent}, ulimitFlags(t)...)
}

// args returns podman's arguments for a command: the global flags, then args.
func (p *podman) args(args ...string) []string {
	return append(slices.Clone(p.global), args...)
}

// run runs a podman command and returns its output, failing the test if
// it fails.
func (p *podman) run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("podman", p.args(args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// status runs a podman command and returns its output and exit status.
func (p *podman) status(t testing.TB, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command("podman", p.args(args...)...).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("podman %s: %v", strings.Join(args, " "), err)
	}
	return string(out), exitCode(exit)
}

// exitCode is the exit status of a finished command (0 if err is nil).
func exitCode(err *exec.ExitError) int {
	if err == nil {
		return 0
	}
	return err.ExitCode()
}

// readSeccompProfile reads podman's default seccomp profile, as `podman info`
// names it, as generic JSON.
func readSeccompProfile(t testing.TB, p *podman) (path string, profile map[string]any) {
	t.Helper()
	path = strings.TrimSpace(p.run(t, "info", "--format", "{{.Host.Security.SECCOMPProfilePath}}"))
	if err := json.Unmarshal(mustRead(t, path), &profile); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return path, profile
}

// allowsFor reports whether profile allows syscall to a process holding
// capability and not CAP_SYS_ADMIN: a rule allowing it that names no
// capability, or that capability.
func allowsFor(profile map[string]any, syscall, capability string) bool {
	rules, _ := profile["syscalls"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		names, _ := rule["names"].([]any)
		if rule["action"] != "SCMP_ACT_ALLOW" || !slices.Contains(names, any(syscall)) {
			continue
		}
		includes, _ := rule["includes"].(map[string]any)
		caps, _ := includes["caps"].([]any)
		if len(caps) == 0 || slices.Contains(caps, any(capability)) {
			return true
		}
	}
	return false
}

// withBPFForCapabilities returns profile changed as newer releases of the
// runtimes' profiles are: bpf() allowed to CAP_BPF and perf_event_open() to
// CAP_PERFMON, as to CAP_SYS_ADMIN; the rules that refuse them to a process
// without CAP_SYS_ADMIN no longer apply to one holding either.
func withBPFForCapabilities(profile map[string]any) map[string]any {
	rules, _ := profile["syscalls"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		names, _ := rule["names"].([]any)
		if rule["action"] == "SCMP_ACT_ALLOW" || (!slices.Contains(names, any("bpf")) && !slices.Contains(names, any("perf_event_open"))) {
			continue
		}
		excludes, _ := rule["excludes"].(map[string]any)
		if excludes == nil {
			excludes = map[string]any{}
			rule["excludes"] = excludes
		}
		caps, _ := excludes["caps"].([]any)
		excludes["caps"] = append(caps, "CAP_BPF", "CAP_PERFMON")
	}
	rules = append(rules,
		map[string]any{"names": []any{"bpf"}, "action": "SCMP_ACT_ALLOW", "includes": map[string]any{"caps": []any{"CAP_BPF"}}},
		map[string]any{"names": []any{"perf_event_open"}, "action": "SCMP_ACT_ALLOW", "includes": map[string]any{"caps": []any{"CAP_PERFMON"}}})
	profile["syscalls"] = rules
	return profile
}

// ulimitFlags are --ulimit flags for open files and processes at most
// this process's own soft limits and at most 1024 (what the tests' exporter
// needs): without CAP_SYS_RESOURCE, runc cannot give a container more than
// it has, and podman's defaults may be more.
func ulimitFlags(t testing.TB) []string {
	t.Helper()
	var flags []string
	for _, l := range []struct {
		name     string
		resource int
	}{{"nofile", unix.RLIMIT_NOFILE}, {"nproc", unix.RLIMIT_NPROC}} {
		var r unix.Rlimit
		if err := unix.Getrlimit(l.resource, &r); err != nil {
			t.Fatal(err)
		}
		v := strconv.FormatUint(min(r.Cur, 1024), 10)
		flags = append(flags, "--ulimit", l.name+"="+v+":"+v)
	}
	return flags
}

// bpfSeccompProfile returns the seccomp profile under which podman's
// containers may use bpf() with CAP_BPF and perf_event_open() with
// CAP_PERFMON: "" (the runtime's default) if its default profile allows
// them, else a file of the test's with that profile changed as
// withBPFForCapabilities does; refusing is then the default profile's path.
func bpfSeccompProfile(t testing.TB, pm *podman) (profile, refusing string) {
	t.Helper()
	defaultPath, def := readSeccompProfile(t, pm)
	if allowsFor(def, "bpf", "CAP_BPF") && allowsFor(def, "perf_event_open", "CAP_PERFMON") {
		t.Logf("%s allows bpf() to CAP_BPF: the image runs under it", defaultPath)
		return "", ""
	}
	b, err := json.Marshal(withBPFForCapabilities(def))
	if err != nil {
		t.Fatal(err)
	}
	profile = filepath.Join(t.TempDir(), "seccomp.json")
	if err := os.WriteFile(profile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return profile, defaultPath
}

// TestImagePodman runs make image's image in podman as the README runs the
// container: every capability dropped but the three, no-new-privileges, a
// read-only root and the runtime's default seccomp profile, in a network
// namespace of the test's. It counts a veth pair exactly, serves /metrics
// and /, keeps only the steady capabilities, and `podman stop` leaves
// nothing attached. Where the runtime's default profile allows bpf() only to
// CAP_SYS_ADMIN (Debian 12's podman), the image exits 1 naming the seccomp
// filter, and counts under that profile with bpf() and perf_event_open()
// allowed to CAP_BPF and CAP_PERFMON (SECURITY.md). Without CAP_NET_ADMIN it
// exits 1 naming the capability.
func TestImagePodman(t *testing.T) {
	pm := newPodman(t)
	build := builtImage(t)
	tag := imageTags(t)[0].String()
	pm.run(t, "load", "--input", filepath.Join(build.dir, image.TarballName(hostPlatform())))

	a := testenv.NewNetns(t)
	b := testenv.NewNetns(t)
	pair := testenv.NewVethPair(t, a, b, testenv.VethOptions{Quiet: true, DisableOffloads: true})

	runArgs := func(name string, caps []string, seccomp string) []string {
		args := []string{"run", "--rm", "--name", name, "--network", "ns:/run/netns/" + a.Name,
			"--read-only", "--security-opt", "no-new-privileges", "--cap-drop", "ALL"}
		for _, c := range caps {
			args = append(args, "--cap-add", c)
		}
		if seccomp != "" {
			args = append(args, "--security-opt", "seccomp="+seccomp)
		}
		return append(append(args, pm.runFlags(t)...), tag)
	}

	// The runtime's default profile, and the one the image counts under.
	seccomp, refusing := bpfSeccompProfile(t, pm)
	if refusing != "" {
		out, code := pm.status(t, runArgs(testenv.UniqueName("peimg"), requiredCaps, "")...)
		if code != 1 || !strings.Contains(out, "seccomp filter") {
			t.Errorf("under %s (bpf() only for CAP_SYS_ADMIN) the image exited %d, want 1 naming the seccomp filter: %s", refusing, code, out)
		}
	}

	t.Run("missing capability", func(t *testing.T) {
		out, code := pm.status(t, runArgs(testenv.UniqueName("peimg"), slices.DeleteFunc(slices.Clone(requiredCaps), func(c string) bool { return c == "NET_ADMIN" }), seccomp)...)
		if code != 1 || !strings.Contains(out, "missing capabilities: CAP_NET_ADMIN") {
			t.Errorf("without CAP_NET_ADMIN the image exited %d, want 1 naming it: %s", code, out)
		}
	})

	t.Run("counts", func(t *testing.T) {
		name := testenv.UniqueName("peimg")
		// The image's own configuration: every interface but lo, :9743.
		// podman runs in the host's namespace (runc refuses a container's
		// sysctls in its own), the container in a; the client dials into a.
		proc := testexporter.StartExporter(t, testexporter.Options{Name: "podman run", StopTimeout: stopTimeout},
			"127.0.0.1:9743", append([]string{"podman"}, pm.args(runArgs(name, requiredCaps, seccomp)...)...)...)
		proc.Client = a.HTTPClient()
		proc.WaitReady(t, 90*time.Second)
		if !proc.WaitForLine(10*time.Second, "dropped capabilities no longer needed", `"kept":"`+capability.Steady.String()+`"`) {
			t.Errorf("no log line of the capabilities dropped to %s", capability.Steady)
		}

		countsUDP(t, proc, a, b, pair, 11, 200)
		code, body, err := proc.Get("/")
		if err != nil || code != http.StatusOK || !strings.Contains(body, "<html") {
			t.Errorf("GET /: %d, %v: %.200q", code, err, body)
		}

		pm.run(t, "stop", "--time", "20", name)
		if exited, code := proc.Wait(30 * time.Second); !exited || code != 0 {
			t.Errorf("podman run ended %v with status %d after podman stop, want 0", exited, code)
		}
		testenv.AssertNothingAttached(t, a, pair.NameA)
	})
}
