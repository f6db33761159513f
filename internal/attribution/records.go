package attribution

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Where the kubelet and containerd keep what this package reads, under the host root.
const (
	// podLogsDir holds a directory per pod: <namespace>_<name>_<uid>.
	podLogsDir = "var/log/pods"
	// containerLogsDir holds a link per container of a pod:
	// <pod>_<namespace>_<container>-<id>.log. The pod's sandbox has none.
	containerLogsDir = "var/log/containers"
	// containerdTasksDir holds a directory per running container of
	// containerd's Kubernetes namespace, by ID.
	containerdTasksDir = "run/containerd/io.containerd.runtime.v2.task/k8s.io"
)

// Where docker, podman and CRI-O keep their records, under their roots
// (Roots.DockerData, Roots.ContainersStorage).
const (
	// dockerContainersDir holds docker's record of each container:
	// <id>/config.v2.json, whose Name is "/<name>".
	dockerContainersDir = "containers"
	// storageContainersDir holds a directory per podman or CRI-O container,
	// by ID, and containers.json, which lists them: a JSON array of {"id",
	// "names"}.
	storageContainersDir = "overlay-containers"
)

// maxRecordSize bounds a record read whole: a docker container's config or podman's list.
const maxRecordSize = 16 << 20

// pod is a Kubernetes pod's identity.
type pod struct {
	namespace, name string
}

// records reads the kubelet's and runtimes' files under a host root. A listing
// is read again only on a miss, once per scan at most: what it holds for an
// ID never changes, and rebuilt whole it holds no more than the host has.
type records struct {
	root string
	// dockerContainers, storageContainers: dockerContainersDir and
	// storageContainersDir under their roots, relative to root.
	dockerContainers, storageContainers string

	pods           map[string]pod    // by pod UID
	podContainers  map[string]string // container name by ID, for pods' containers
	otherNames     map[string]string // docker and podman names by container ID
	listed         map[string]bool   // listings read during this scan
	otherNamesUsed map[string]string // otherNames looked up during this scan
}

// beginScan starts a scan: a listing is read again on its first miss.
func (r *records) beginScan() {
	r.listed = map[string]bool{}
	r.otherNamesUsed = map[string]string{}
}

// endScan forgets the names of containers not looked up during the scan.
func (r *records) endScan() {
	r.otherNames = r.otherNamesUsed
}

// lookupListing returns the value of key in *cache, which a miss first
// replaces with what list reads of listing, once per scan.
func lookupListing[V any](r *records, listing, key string, cache *map[string]V, list func() map[string]V) (V, bool) {
	if _, ok := (*cache)[key]; !ok && !r.listed[listing] {
		r.listed[listing] = true
		*cache = list()
	}
	v, ok := (*cache)[key]
	return v, ok
}

// pod returns the pod of UID uid, from the kubelet's pod log directories.
func (r *records) pod(uid string) (pod, bool) {
	return lookupListing(r, podLogsDir, uid, &r.pods, func() map[string]pod {
		pods := map[string]pod{}
		for _, name := range r.names(podLogsDir) {
			// Namespace and pod names are DNS names: no underscores.
			parts := strings.Split(name, "_")
			if len(parts) == 3 {
				pods[parts[2]] = pod{namespace: parts[0], name: parts[1]}
			}
		}
		return pods
	})
}

// podContainerName returns the name of a pod's container with ID id, from
// the kubelet's container log links; a pod's sandbox has none.
func (r *records) podContainerName(id string) (string, bool) {
	return lookupListing(r, containerLogsDir, id, &r.podContainers, func() map[string]string {
		names := map[string]string{}
		for _, entry := range r.names(containerLogsDir) {
			base, ok := strings.CutSuffix(entry, ".log")
			if !ok || len(base) < 66 || base[len(base)-65] != '-' {
				continue
			}
			parts := strings.Split(base[:len(base)-65], "_")
			if len(parts) == 3 {
				names[base[len(base)-64:]] = parts[2]
			}
		}
		return names
	})
}

// containerName returns the name docker or podman gave container c.
func (r *records) containerName(c container) (string, bool) {
	name, ok := r.otherNames[c.id]
	if !ok {
		switch c.runtime {
		case RuntimeDocker:
			name, ok = r.dockerName(c.id)
		case RuntimePodman:
			name, ok = r.podmanName(c.id)
		}
	}
	if ok {
		r.otherNamesUsed[c.id] = name
	}
	return name, ok
}

// dockerName reads the name of docker container id from its record.
func (r *records) dockerName(id string) (string, bool) {
	var record struct{ Name string }
	if !r.readJSON(filepath.Join(r.dockerContainers, id, "config.v2.json"), &record) {
		return "", false
	}
	name := strings.TrimPrefix(record.Name, "/")
	return name, name != ""
}

// podmanName reads the name of podman container id from podman's list.
func (r *records) podmanName(id string) (string, bool) {
	var list []struct {
		ID    string   `json:"id"`
		Names []string `json:"names"`
	}
	if !r.readJSON(filepath.Join(r.storageContainers, "containers.json"), &list) {
		return "", false
	}
	for _, c := range list {
		if c.ID == id && len(c.Names) > 0 {
			return c.Names[0], true
		}
	}
	return "", false
}

// runtimeOf tells the runtime of container id from the runtime's own state,
// for cgroup paths that do not name it (kubelet's cgroupfs driver).
func (r *records) runtimeOf(id string) string {
	for _, c := range []struct{ dir, runtime string }{
		{containerdTasksDir, RuntimeContainerd},
		{r.storageContainers, RuntimeCRIO},
		{r.dockerContainers, RuntimeDocker},
	} {
		if _, err := os.Stat(filepath.Join(r.root, c.dir, id)); err == nil {
			return c.runtime
		}
	}
	return ""
}

// names lists the directory rel; nil when it cannot be read.
func (r *records) names(rel string) []string {
	dir, err := os.Open(filepath.Join(r.root, rel))
	if err != nil {
		return nil
	}
	defer dir.Close()
	names, _ := dir.Readdirnames(-1)
	return names
}

// readJSON decodes the regular file rel into v; false when it cannot be read
// or decoded. Opened without blocking and read only when regular: a FIFO or
// a device in its place must not stall the lookups.
func (r *records) readJSON(rel string, v any) bool {
	f, err := os.OpenFile(filepath.Join(r.root, rel), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	return json.NewDecoder(io.LimitReader(f, maxRecordSize)).Decode(v) == nil
}
