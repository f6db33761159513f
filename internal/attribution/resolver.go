package attribution

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Why a namespace's workload is not fully known: the error.type values of
// packet_exporter.attribution.unresolved.
const (
	// ReasonNoProcess: no process lives in the namespace (yet).
	ReasonNoProcess = "no_process"
	// ReasonNoContainer: its processes are in no container's cgroup.
	ReasonNoContainer = "no_container"
	// ReasonSeveralContainers: several containers share the namespace
	// outside a Kubernetes pod, and none is the namespace's own.
	ReasonSeveralContainers = "several_containers"
	// ReasonPodNotFound: a pod's UID without a kubelet pod log directory.
	ReasonPodNotFound = "pod_not_found"
	// ReasonNameNotFound: a container without a name record.
	ReasonNameNotFound = "container_name_not_found"
	// ReasonRuntimeNotFound: a container whose runtime neither its cgroup
	// nor a runtime's state tells.
	ReasonRuntimeNotFound = "runtime_not_found"
	// ReasonLookupFailed: the processes could not be listed.
	ReasonLookupFailed = "lookup_failed"
)

// fullScanEvery is how many scans go by between two in which every process's
// network namespace is asked again: a process that changed namespace long
// after it started, or a process ID reused between two scans, is seen within
// that many scans. In the others, a process's namespace is asked in the
// first two scans that see it: the second because a process often enters its
// namespace just after it starts (ip netns exec, a runtime's init), which
// the first may have seen before. Asking costs a netlink round trip (~14 µs
// here), listing a process ~1 µs.
const fullScanEvery = 30

// Workload is who lives behind a network namespace; an empty field is unknown.
type Workload struct {
	ContainerID, ContainerName, ContainerRuntime string
	PodUID, PodName, PodNamespace                string
}

// Attributes returns the workload's known fields as OpenTelemetry attributes.
func (w Workload) Attributes() []attribute.KeyValue {
	var attrs []attribute.KeyValue
	for _, a := range []struct {
		key   attribute.Key
		value string
	}{
		{semconv.ContainerIDKey, w.ContainerID},
		{semconv.ContainerNameKey, w.ContainerName},
		{semconv.ContainerRuntimeNameKey, w.ContainerRuntime},
		{semconv.K8SPodUIDKey, w.PodUID},
		{semconv.K8SPodNameKey, w.PodName},
		{semconv.K8SNamespaceNameKey, w.PodNamespace},
	} {
		if a.value != "" {
			attrs = append(attrs, a.key.String(a.value))
		}
	}
	return attrs
}

// Result is the workload found in one network namespace and, when it is not
// fully known, why (a Reason constant; "" when nothing is missing).
type Result struct {
	Workload Workload
	Problem  string
}

// Resolver finds the workloads behind network namespaces from the processes
// of the host (/proc under the host root) and the kubelet's and runtimes'
// files. It is not safe for concurrent use.
type Resolver struct {
	root string
	// nsidOf returns the ID the caller's network namespace knows process
	// pid's namespace by (-1 for none).
	nsidOf  func(pid int) (int, error)
	records *records
	nsids   map[int]processNetns // by process ID, as of the last scan
	scans   int
}

// processNetns is the network namespace a scan found a process in.
type processNetns struct {
	id      int
	settled bool // asked in two scans
}

// Roots are where a resolver finds the host's files.
type Roots struct {
	// Host is where the host's file system is seen; the others are paths of
	// the host's, read under it.
	Host string
	// DockerData is docker's data root (dockerd's data-root).
	DockerData string
	// ContainersStorage is containers/storage's root (graphroot), podman's
	// and CRI-O's.
	ContainersStorage string
}

// NewResolver returns a resolver of the host's files under roots. nsidOf
// returns process pid's network namespace ID, as nsids number them (-1: none).
func NewResolver(roots Roots, nsidOf func(pid int) (int, error)) *Resolver {
	return &Resolver{root: roots.Host, nsidOf: nsidOf, records: &records{
		root:              roots.Host,
		dockerContainers:  filepath.Join(strings.TrimPrefix(roots.DockerData, "/"), dockerContainersDir),
		storageContainers: filepath.Join(strings.TrimPrefix(roots.ContainersStorage, "/"), storageContainersDir),
	}}
}

// Resolve returns the workload of each network namespace in nsids, from one
// scan of the host's processes; it fails only if they cannot be listed.
func (r *Resolver) Resolve(nsids []int) (map[int]Result, error) {
	members, err := r.scan(nsids)
	if err != nil {
		return nil, err
	}
	r.records.beginScan()
	defer r.records.endScan()
	out := make(map[int]Result, len(nsids))
	for _, nsid := range nsids {
		out[nsid] = r.workloadOf(members[nsid])
	}
	return out, nil
}

// errForeignPIDs and errHiddenPIDs are why the host's processes cannot be
// read: this process is not in the host's PID namespace (it is PID 1 of its
// own, or the IDs under the root's proc are not of its namespace), or other
// users' processes are hidden (hidepid, systemd's ProtectProc).
var (
	errForeignPIDs = errors.New("the processes are of another PID namespace than this process's: run in the host's PID namespace (hostPID)")
	errHiddenPIDs  = errors.New("process 1 is hidden: other users' processes are not visible (procfs hidepid, systemd ProtectProc)")
)

// checkProc tells whether the processes under proc are the host's, of this
// process's PID namespace, and visible. A process that is PID 1 runs in a
// PID namespace of its own (a container's), where it sees no other.
func checkProc(proc string) error {
	if os.Getpid() == 1 {
		return errForeignPIDs
	}
	self, err := os.Readlink(filepath.Join(proc, "self"))
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	if self != strconv.Itoa(os.Getpid()) {
		return errForeignPIDs
	}
	if _, err := os.Stat(filepath.Join(proc, "1")); err != nil {
		return errHiddenPIDs
	}
	return nil
}

// scan lists the processes and returns those in each of nsids.
func (r *Resolver) scan(nsids []int) (map[int][]int, error) {
	proc := filepath.Join(r.root, "proc")
	if err := checkProc(proc); err != nil {
		return nil, err
	}
	dir, err := os.Open(proc)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	full := r.scans%fullScanEvery == 0
	r.scans++
	members := make(map[int][]int, len(nsids)) // only the keys of nsids
	for _, id := range nsids {
		members[id] = nil
	}
	seen := make(map[int]processNetns, len(r.nsids))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		ns, ok := r.nsids[pid]
		if !ok || !ns.settled || full {
			id, err := r.nsidOf(pid)
			if err != nil {
				continue // exited since the listing
			}
			ns = processNetns{id: id, settled: ok}
		}
		seen[pid] = ns
		if pids, ok := members[ns.id]; ok {
			members[ns.id] = append(pids, pid)
		}
	}
	r.nsids = seen
	return members, nil
}

// workloadOf tells the workload of the processes of one namespace.
func (r *Resolver) workloadOf(pids []int) Result {
	if len(pids) == 0 {
		return Result{Problem: ReasonNoProcess}
	}
	var containers []container
	for _, pid := range pids {
		f, err := os.Open(filepath.Join(r.root, "proc", strconv.Itoa(pid), "cgroup"))
		if err != nil {
			continue
		}
		c, ok := parseCgroupFile(f)
		f.Close()
		if ok && c.bare {
			c.runtime = r.records.runtimeOf(c.id)
			ok = c.runtime != ""
		}
		if ok && !slices.ContainsFunc(containers, func(o container) bool { return o.id == c.id }) {
			containers = append(containers, c)
		}
	}
	if len(containers) == 0 {
		return Result{Problem: ReasonNoContainer}
	}
	if uid := containers[0].podUID; uid != "" {
		return r.podWorkload(uid, containers)
	}
	if len(containers) > 1 {
		return Result{Problem: ReasonSeveralContainers}
	}
	c := containers[0]
	res := Result{Workload: Workload{ContainerID: c.id}}
	res.Workload.ContainerRuntime, res.Problem = r.runtime(c)
	if name, ok := r.records.containerName(c); ok {
		res.Workload.ContainerName = name
	} else if res.Problem == "" {
		res.Problem = ReasonNameNotFound
	}
	return res
}

// podWorkload tells the workload of a pod's namespace: the pod, and its
// container when it has exactly one besides its sandbox (no kubelet logs).
func (r *Resolver) podWorkload(uid string, containers []container) Result {
	res := Result{Workload: Workload{PodUID: uid}}
	if p, ok := r.records.pod(uid); ok {
		res.Workload.PodName, res.Workload.PodNamespace = p.name, p.namespace
	} else {
		res.Problem = ReasonPodNotFound
	}
	var app *container
	var appName string
	for i, c := range containers {
		if name, ok := r.records.podContainerName(c.id); ok {
			if app != nil {
				return res // several: the pod is the workload
			}
			app, appName = &containers[i], name
		}
	}
	if app == nil {
		return res
	}
	res.Workload.ContainerID, res.Workload.ContainerName = app.id, appName
	var problem string
	res.Workload.ContainerRuntime, problem = r.runtime(*app)
	res.Problem = cmp.Or(res.Problem, problem) // the pod's problem first
	return res
}

// runtime returns the runtime of container c: from its cgroup, else from the
// runtimes' state; else a problem.
func (r *Resolver) runtime(c container) (string, string) {
	if c.runtime != "" {
		return c.runtime, ""
	}
	if runtime := r.records.runtimeOf(c.id); runtime != "" {
		return runtime, ""
	}
	return "", ReasonRuntimeNotFound
}
