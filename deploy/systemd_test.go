package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// unitFile is a parsed systemd unit: section -> key -> assignments in order.
type unitFile map[string]map[string][]string

func parseUnit(t testing.TB, b []byte) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			t.Fatalf("unit line %d: continuation lines are not supported by this test", n)
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("unit line %d: %q is not KEY=VALUE in a section", n, line)
		}
		u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return u
}

// value is the last assignment of key in [Service].
func (u unitFile) value(key string) string {
	vs := u["Service"][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// list is the space-separated values of every assignment of key in
// [Service] (an empty assignment resets the list, as in systemd).
func (u unitFile) list(key string) []string {
	var res []string
	for _, v := range u["Service"][key] {
		if v == "" {
			res = nil
			continue
		}
		res = append(res, strings.Fields(v)...)
	}
	return res
}

func readUnit(t testing.TB) (unitFile, []byte) {
	t.Helper()
	b := readRepoFile(t, "deploy", "systemd", "packet-exporter.service")
	return parseUnit(t, b), b
}

// unitCaps returns the capability names of key without CAP_ (sorted).
func unitCaps(u unitFile, key string) []string {
	var res []string
	for _, c := range u.list(key) {
		res = append(res, strings.TrimPrefix(c, "CAP_"))
	}
	slices.Sort(res)
	return res
}

// TestSystemdUnit checks the unit's privileges and hardening, runs
// `systemd-analyze verify` on it (with the binary path pointing at the test
// build) and requires an exposure level of at most 2.5 from
// `systemd-analyze security --offline=true`.
func TestSystemdUnit(t *testing.T) {
	u, raw := readUnit(t)
	exec0 := strings.Fields(u.value("ExecStart"))
	if len(exec0) == 0 || exec0[0] != "/usr/local/bin/packet-exporter" || flagValue(exec0, "--config") != "/etc/packet-exporter/config.yaml" {
		t.Errorf("ExecStart %q, want /usr/local/bin/packet-exporter --config /etc/packet-exporter/config.yaml", u.value("ExecStart"))
	}
	for _, key := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		if got := unitCaps(u, key); !sameSet(got, requiredCaps) {
			t.Errorf("%s %q, want %q", key, got, requiredCaps)
		}
	}
	want := map[string]string{
		"DynamicUser":             "yes",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"PrivateNetwork":          "no", // it counts the host's interfaces
		"LimitMEMLOCK":            "infinity",
	}
	for k, v := range want {
		if got := u.value(k); got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	if u.value("PrivateUsers") == "yes" {
		t.Errorf("PrivateUsers=yes: capabilities in a user namespace do not allow BPF")
	}
	if len(u.list("SystemCallFilter")) == 0 || len(u.list("RestrictAddressFamilies")) == 0 {
		t.Errorf("no SystemCallFilter or RestrictAddressFamilies")
	}
	// Persistence: on, at the path the host's directory is bound to, which
	// root creates before each start.
	env := unitEnvironment(u)
	source, target, _ := strings.Cut(u.value("BindPaths"), ":")
	if env["PE_PERSISTENCE_ENABLED"] != "true" || env["PE_PERSISTENCE_PATH"] == "" || env["PE_PERSISTENCE_PATH"] != target {
		t.Errorf("Environment %v, BindPaths %q: want persistence on, at the bind's target", env, u.value("BindPaths"))
	}
	if !strings.HasPrefix(source, bpffsPath+"/") || !strings.HasPrefix(u.value("ExecStartPre"), "+") || !strings.Contains(u.value("ExecStartPre"), source) {
		t.Errorf("BindPaths source %q, ExecStartPre %q: want a directory of the host's %s, created as root before the start", source, u.value("ExecStartPre"), bpffsPath)
	}
	if !slices.Contains(u.list("RestartPreventExitStatus"), "2") {
		t.Errorf("RestartPreventExitStatus does not include 2 (bad configuration: restarting does not help)")
	}

	requireTool(t, "systemd-analyze")
	// verify needs the executable to exist: point ExecStart at the test build.
	bin := exporterBinary(t)
	unit := filepath.Join(t.TempDir(), "packet-exporter.service")
	text := strings.ReplaceAll(string(raw), "/usr/local/bin/packet-exporter", bin)
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline=true: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure level %.1f", level)
	if level > 2.5 {
		t.Errorf("exposure level %.1f, want at most 2.5:\n%s", level, out)
	}
}

// unitEnvironment returns the variables the unit's Environment= sets.
func unitEnvironment(u unitFile) map[string]string {
	env := map[string]string{}
	for _, kv := range u.list("Environment") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// syscallGroup expands a systemd system call filter entry (a name or a
// @group) into system call names, with `systemd-analyze syscall-filter`.
func syscallGroup(t testing.TB, entry string, seen map[string]bool) []string {
	t.Helper()
	if !strings.HasPrefix(entry, "@") {
		return []string{entry}
	}
	if seen[entry] {
		return nil
	}
	seen[entry] = true
	out, err := exec.Command("systemd-analyze", "syscall-filter", "--no-pager", entry).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter %s: %v\n%s", entry, err, out)
	}
	var res []string
	lines := strings.Split(string(out), "\n")
	for _, line := range lines[1:] { // the first line is the group's name
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		res = append(res, syscallGroup(t, line, seen)...)
	}
	return res
}

// TestSystemdUnitSandbox runs the exporter as the unit runs it, as far as a
// machine without systemd as PID 1 allows: as an unprivileged user holding
// the unit's AmbientCapabilities inside its CapabilityBoundingSet, with
// no_new_privs, in a test network namespace, under strace. It must attach,
// become ready, count traffic, and exit 0 on SIGTERM; and every system call
// it made must be one the unit's SystemCallFilter allows, every socket of an
// address family RestrictAddressFamilies allows. The event stream, flows and
// OTLP are on (the compose configuration), so their system calls are seen too.
func TestSystemdUnitSandbox(t *testing.T) {
	testenv.RequireRoot(t)
	requireTool(t, "systemd-analyze", "strace", "setpriv", "ip")
	u, _ := readUnit(t)
	bin := exporterBinary(t)

	a := testenv.NewNetns(t)
	b := testenv.NewNetns(t)
	p := testenv.NewVethPair(t, a, b, testenv.VethOptions{Quiet: true, DisableOffloads: true})

	// A directory the unprivileged user can read, like /etc/packet-exporter.
	dir, err := os.MkdirTemp("", "pe-deploy-unit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, listen := testExporterConfig(t, dir)
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(dir, "strace.txt")

	ambient := capsFlag(unitCaps(u, "AmbientCapabilities"))
	argv := []string{"strace", "-f", "-qq", "-o", trace, "--",
		"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=" + ambient, "--ambient-caps=" + ambient,
		"--bounding-set=" + capsFlag(unitCaps(u, "CapabilityBoundingSet")), "--no-new-privs", "--",
		bin, "--config", cfg}
	// The unit's environment (persistence), its path in a BPF filesystem of
	// the test's, given to the user as the unit's ExecStartPre does.
	// Only traversable, as the unit's bind mount makes the directory reachable.
	env := unitEnvironment(u)
	bpffs := filepath.Join(dir, "bpffs")
	if err := os.Mkdir(bpffs, 0o711); err != nil {
		t.Fatal(err)
	}
	testenv.MountBPFFSAt(t, bpffs, 0o711)
	env["PE_PERSISTENCE_PATH"] = filepath.Join(bpffs, "packet-exporter")
	if err := os.Mkdir(env["PE_PERSISTENCE_PATH"], 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(env["PE_PERSISTENCE_PATH"], 65534, 65534); err != nil {
		t.Fatal(err)
	}
	proc := testexporter.StartExporter(t, testexporter.Options{Name: "packet-exporter (unit sandbox, strace)", Netns: a,
		StopTimeout: stopTimeout, Setup: func(c *exec.Cmd) {
			for k, v := range env {
				c.Env = append(c.Env, k+"="+v)
			}
		}}, listen, argv...)
	proc.Client.Timeout = 5 * time.Second
	proc.WaitReady(t, 60*time.Second)

	countsUDP(t, proc, a, b, p, 7, 100)

	// SIGTERM to the exporter itself (strace would detach, not forward it).
	pid := exporterPID(t, a, bin)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if exited, _ := proc.Wait(20 * time.Second); !exited {
		t.Fatalf("packet-exporter did not exit 20 s after SIGTERM")
	}
	// strace exits with the traced program's status.
	if err := proc.Err(); err != nil {
		t.Errorf("packet-exporter did not exit 0 after SIGTERM: %v", err)
	}
	text := mustRead(t, trace)

	// The system calls made after the exporter's execve, against the filter.
	allowed := map[string]bool{}
	seen := map[string]bool{}
	for _, e := range u.list("SystemCallFilter") {
		if strings.HasPrefix(e, "~") {
			t.Fatalf("SystemCallFilter deny-list entry %q: this test handles allow-lists only", e)
		}
		for _, s := range syscallGroup(t, e, seen) {
			allowed[s] = true
		}
	}
	families := map[string]bool{}
	for _, f := range u.list("RestrictAddressFamilies") {
		families[f] = true
	}
	execRe := regexp.MustCompile(`^\d+ +execve\("` + regexp.QuoteMeta(bin) + `".* = 0$`)
	callRe := regexp.MustCompile(`^\d+ +(?:<\.\.\. )?([a-z0-9_]+)[( ]`)
	sockRe := regexp.MustCompile(`^\d+ +socket\((AF_[A-Z0-9]+),`)
	started := false
	calls := map[string]int{}
	for _, line := range strings.Split(string(text), "\n") {
		if !started {
			started = execRe.MatchString(line)
			continue
		}
		if strings.Contains(line, "+++ ") || strings.Contains(line, "--- SIG") {
			continue
		}
		if m := callRe.FindStringSubmatch(line); m != nil {
			calls[m[1]]++
		}
		if m := sockRe.FindStringSubmatch(line); m != nil && !families[m[1]] {
			t.Errorf("socket of family %s, which RestrictAddressFamilies=%s forbids: %s", m[1], strings.Join(u.list("RestrictAddressFamilies"), " "), line)
		}
	}
	if !started {
		t.Fatalf("strace output has no successful execve of %s", bin)
	}
	var names []string
	for c := range calls {
		names = append(names, c)
		if !allowed[c] {
			t.Errorf("system call %s (%d times) is not allowed by SystemCallFilter=%s", c, calls[c], strings.Join(u.list("SystemCallFilter"), " "))
		}
	}
	slices.Sort(names)
	t.Logf("%d distinct system calls: %s", len(names), strings.Join(names, " "))
	if calls["bpf"] == 0 {
		t.Errorf("no bpf() in the trace: the trace does not cover the exporter")
	}
}

// exporterPID finds the process running bin in namespace ns.
func exporterPID(t testing.TB, ns *testenv.Netns, bin string) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", ns.Name).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(out)) {
		pid, _ := strconv.Atoi(f)
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == bin {
			return pid
		}
	}
	t.Fatalf("no process runs %s in %s", bin, ns.Name)
	return 0
}
