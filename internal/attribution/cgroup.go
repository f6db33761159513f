package attribution

import (
	"bufio"
	"io"
	"regexp"
	"strings"
)

// Container runtimes, the values of container.runtime.name.
const (
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimeDocker     = "docker"
	RuntimePodman     = "podman"
)

// containerScope matches a container's cgroup: its 64-hex ID, bare (cgroupfs
// drivers) or with its runtime's prefix and, under systemd, a .scope suffix;
// not monitors (crio-conmon-, libpod-conmon-), which are not the container.
var containerScope = regexp.MustCompile(`^(?:(cri-containerd|crio|docker|libpod)-)?([0-9a-f]{64})(?:\.scope)?$`)

// runtimeByPrefix names the runtime of a containerScope prefix.
var runtimeByPrefix = map[string]string{
	"cri-containerd": RuntimeContainerd,
	"crio":           RuntimeCRIO,
	"docker":         RuntimeDocker,
	"libpod":         RuntimePodman,
}

// podSlice matches the cgroup of a Kubernetes pod: kubepods-<qos>-pod<uid>.slice
// or kubepods-pod<uid>.slice under kubelet's systemd driver (the UID's dashes
// as underscores), pod<uid> under its cgroupfs driver.
var podSlice = regexp.MustCompile(`^(?:kubepods(?:-[a-z]+)?-pod([0-9a-f_]{36})\.slice|pod([0-9a-f-]{36}))$`)

// container is what a process's cgroup path tells of the container it runs in.
type container struct {
	id      string
	runtime string // "" when the path does not tell
	podUID  string // "" outside a Kubernetes pod
	// bare: a bare ID under a parent no runtime uses by default (a runtime's
	// --cgroup-parent), a container only if a runtime's state has it.
	bare bool
}

// parseCgroupFile returns the container of the process whose
// /proc/<pid>/cgroup is r, from the first line whose path is a container's
// (cgroup v2 has one line, v1 one per hierarchy), and whether there is one.
func parseCgroupFile(r io.Reader) (container, bool) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		fields := strings.SplitN(s.Text(), ":", 3)
		if len(fields) != 3 {
			continue
		}
		if c, ok := parseCgroupPath(fields[2]); ok {
			return c, true
		}
	}
	return container{}, false
}

// parseCgroupPath returns the container whose cgroup is path: the last
// element is its scope, the one before the pod's under Kubernetes or docker's
// under its cgroupfs driver; a bare ID anywhere else is marked bare.
func parseCgroupPath(path string) (container, bool) {
	elements := strings.Split(strings.Trim(path, "/"), "/")
	last := len(elements) - 1
	m := containerScope.FindStringSubmatch(elements[last])
	if m == nil {
		return container{}, false
	}
	c := container{id: m[2], runtime: runtimeByPrefix[m[1]]}
	parent := ""
	if last > 0 {
		parent = elements[last-1]
	}
	if p := podSlice.FindStringSubmatch(parent); p != nil {
		c.podUID = strings.ReplaceAll(p[1]+p[2], "_", "-")
	} else if c.runtime == "" && parent == "docker" {
		c.runtime = RuntimeDocker // docker's cgroupfs driver: /docker/<id>
	} else if c.runtime == "" {
		c.bare = true // a bare ID under a parent no runtime uses by default
	}
	return c, true
}
