package testenv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Cgroup hierarchies a test can create cgroups in.
const (
	CgroupV2 = "cgroup2"
	CgroupV1 = "cgroup" // the pids controller's hierarchy
)

// CgroupHierarchies returns the cgroup versions mounted on this machine that
// a test can create cgroups in (CgroupV2, CgroupV1), by mount point.
func CgroupHierarchies() map[string]string {
	out := map[string]string{}
	for _, m := range cgroupMounts() {
		switch {
		case m.fsType == CgroupV2 && out[CgroupV2] == "":
			out[CgroupV2] = m.dir
		case m.fsType == CgroupV1 && slices.Contains(m.options, "pids"):
			out[CgroupV1] = m.dir
		}
	}
	return out
}

// cgroupMount is one mounted cgroup hierarchy, v1 or v2.
type cgroupMount struct {
	dir, fsType string
	options     []string
}

// cgroupMounts returns every mounted cgroup hierarchy, from /proc/self/mounts
// (device mount-point type options dump pass).
func cgroupMounts() []cgroupMount {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	var out []cgroupMount
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) >= 4 && (fields[2] == CgroupV1 || fields[2] == CgroupV2) {
			out = append(out, cgroupMount{dir: fields[1], fsType: fields[2], options: strings.Split(fields[3], ",")})
		}
	}
	return out
}

// Cgroup is a cgroup a test created: Rel, a path of nested cgroups such as a
// container runtime creates, below a uniquely named cgroup of one hierarchy.
type Cgroup struct {
	// Dir is the cgroup's directory; Path is the cgroup path processes in it
	// show in /proc/<pid>/cgroup.
	Dir, Path string
	mount     string
}

// NewCgroup creates the cgroup rel below a uniquely named cgroup of the
// hierarchy of version (CgroupV2 or CgroupV1), skipping the test (failing it
// under CI=true) where that hierarchy is not mounted. Cleanup moves the
// processes still in the cgroups to the hierarchy's root and removes them.
func NewCgroup(tb testing.TB, version, rel string) *Cgroup {
	tb.Helper()
	mount := CgroupHierarchies()[version]
	if mount == "" {
		Skip(tb, "no %s hierarchy mounted", version)
		return nil
	}
	top := "/" + UniqueName("pecg")
	c := &Cgroup{mount: mount, Path: filepath.Join(top, rel), Dir: filepath.Join(mount, top, rel)}
	tb.Cleanup(func() {
		// Deepest first: a cgroup with children cannot be removed.
		for dir := c.Dir; strings.HasPrefix(dir, filepath.Join(mount, top)); dir = filepath.Dir(dir) {
			if err := c.empty(dir); err != nil {
				tb.Errorf("empty cgroup %s: %v", dir, err)
			}
			if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				tb.Errorf("remove cgroup %s: %v", dir, err)
			}
		}
	})
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		tb.Fatalf("create cgroup: %v", err)
	}
	return c
}

// Add moves process pid into the cgroup.
func (c *Cgroup) Add(tb testing.TB, pid int) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		tb.Fatalf("move process %d into cgroup %s: %v", pid, c.Path, err)
	}
}

// empty moves the processes of the cgroup dir to the hierarchy's root.
func (c *Cgroup) empty(dir string) error {
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, pid := range strings.Fields(string(procs)) {
		err := os.WriteFile(filepath.Join(c.mount, "cgroup.procs"), []byte(pid), 0)
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	return nil
}

// CleanupCgroupTree registers the removal of cgroup rel (a path below the
// root, such as a container runtime's --cgroup-parent) and of every cgroup
// below it, in every mounted cgroup hierarchy, for tests that let a runtime
// create cgroups. It runs after the test's later cleanups (the runtime's
// containers are gone by then) and retries a busy cgroup for a few seconds.
func CleanupCgroupTree(tb testing.TB, rel string) {
	tb.Helper()
	tb.Cleanup(func() {
		for _, m := range cgroupMounts() {
			if err := removeCgroupTree(filepath.Join(m.dir, rel)); err != nil {
				tb.Errorf("testenv: remove cgroup %s: %v", rel, err)
			}
		}
	})
}

// removeCgroupTree removes the cgroup directory dir and those below it,
// deepest first; a missing dir is not an error.
func removeCgroupTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroupTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
