package attribution

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// host is a host file system under a temporary root: processes (their
// cgroup files) with the network namespace ID each is in, and the kubelet's
// and runtimes' files.
// The runtimes' records under a host root of the tests, at their default
// roots.
const (
	testDockerContainers = "var/lib/docker/containers"
	testPodmanList       = "var/lib/containers/storage/overlay-containers/containers.json"
)

// testRoots are the default roots of the runtimes, under host root.
func testRoots(root string) Roots {
	return Roots{Host: root, DockerData: DefaultDockerDataRoot, ContainersStorage: "/var/lib/containers/storage"}
}

type host struct {
	t     *testing.T
	root  string
	nsids map[int]int
	asked int // nsidOf calls
}

func newHost(t *testing.T) *host {
	h := &host{t: t, root: t.TempDir(), nsids: map[int]int{}}
	h.mkdir("proc")
	// As this process's /proc: self is this process, and process 1 visible.
	if err := os.Symlink(strconv.Itoa(os.Getpid()), filepath.Join(h.root, "proc", "self")); err != nil {
		t.Fatal(err)
	}
	h.process(1, -1, "/init.scope")
	return h
}

func (h *host) mkdir(rel string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Join(h.root, rel), 0o755); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) write(rel, content string) {
	h.t.Helper()
	h.mkdir(filepath.Dir(rel))
	if err := os.WriteFile(filepath.Join(h.root, rel), []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// process adds process pid in namespace nsid whose cgroup path is cgroup.
func (h *host) process(pid, nsid int, cgroup string) {
	h.write(filepath.Join("proc", strconv.Itoa(pid), "cgroup"), "0::"+cgroup+"\n")
	h.nsids[pid] = nsid
}

func (h *host) exit(pid int) {
	os.RemoveAll(filepath.Join(h.root, "proc", strconv.Itoa(pid)))
	delete(h.nsids, pid)
}

func (h *host) nsidOf(pid int) (int, error) {
	h.asked++
	nsid, ok := h.nsids[pid]
	if !ok {
		return 0, errors.New("no such process")
	}
	return nsid, nil
}

// podLogs adds the kubelet's log directory of a pod and the log link of each
// of its containers (name: ID).
func (h *host) podLogs(namespace, name, uid string, containers map[string]string) {
	h.mkdir(filepath.Join(podLogsDir, namespace+"_"+name+"_"+uid))
	for cname, id := range containers {
		h.write(filepath.Join(containerLogsDir, name+"_"+namespace+"_"+cname+"-"+id+".log"), "")
	}
}

func id(n int) string { return strings.Repeat(strconv.Itoa(n%10), 64) }

func systemdPod(uid string) string {
	return "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice"
}

func TestResolve(t *testing.T) {
	const nsid = 7
	uid := testUID
	tests := []struct {
		name  string
		setup func(h *host)
		want  Result
	}{
		{"pod with one container, containerd, systemd driver", func(h *host) {
			h.process(100, nsid, systemdPod(uid)+"/cri-containerd-"+id(1)+".scope") // sandbox
			h.process(101, nsid, systemdPod(uid)+"/cri-containerd-"+id(2)+".scope")
			h.process(102, nsid, systemdPod(uid)+"/cri-containerd-"+id(2)+".scope")
			h.podLogs("shop", "web-5d8f", uid, map[string]string{"nginx": id(2)})
		}, Result{Workload: Workload{ContainerID: id(2), ContainerName: "nginx", ContainerRuntime: RuntimeContainerd,
			PodUID: uid, PodName: "web-5d8f", PodNamespace: "shop"}}},
		{"pod with two containers: the pod only", func(h *host) {
			h.process(100, nsid, systemdPod(uid)+"/crio-"+id(1)+".scope")
			h.process(101, nsid, systemdPod(uid)+"/crio-"+id(2)+".scope")
			h.process(102, nsid, systemdPod(uid)+"/crio-"+id(3)+".scope")
			h.podLogs("shop", "web-5d8f", uid, map[string]string{"app": id(2), "sidecar": id(3)})
		}, Result{Workload: Workload{PodUID: uid, PodName: "web-5d8f", PodNamespace: "shop"}}},
		{"pod, cgroupfs driver: runtime from containerd's state", func(h *host) {
			h.process(100, nsid, "/kubepods/besteffort/pod"+uid+"/"+id(1))
			h.process(101, nsid, "/kubepods/besteffort/pod"+uid+"/"+id(2))
			h.podLogs("default", "db-0", uid, map[string]string{"postgres": id(2)})
			h.mkdir(filepath.Join(containerdTasksDir, id(2)))
		}, Result{Workload: Workload{ContainerID: id(2), ContainerName: "postgres", ContainerRuntime: RuntimeContainerd,
			PodUID: uid, PodName: "db-0", PodNamespace: "default"}}},
		{"pod, cgroupfs driver, runtime's state not readable", func(h *host) {
			h.process(101, nsid, "/kubepods/besteffort/pod"+uid+"/"+id(2))
			h.podLogs("default", "db-0", uid, map[string]string{"postgres": id(2)})
		}, Result{Workload: Workload{ContainerID: id(2), ContainerName: "postgres", PodUID: uid, PodName: "db-0", PodNamespace: "default"},
			Problem: ReasonRuntimeNotFound}},
		{"pod without its log directory", func(h *host) {
			h.process(100, nsid, systemdPod(uid)+"/cri-containerd-"+id(1)+".scope")
		}, Result{Workload: Workload{PodUID: uid}, Problem: ReasonPodNotFound}},
		{"docker, systemd driver", func(h *host) {
			h.process(100, nsid, "/system.slice/docker-"+id(4)+".scope")
			h.write(filepath.Join(testDockerContainers, id(4), "config.v2.json"), `{"ID":"`+id(4)+`","Name":"/redis","Config":{"Image":"redis"}}`)
		}, Result{Workload: Workload{ContainerID: id(4), ContainerName: "redis", ContainerRuntime: RuntimeDocker}}},
		{"docker, cgroupfs driver, no record", func(h *host) {
			h.process(100, nsid, "/docker/"+id(4))
		}, Result{Workload: Workload{ContainerID: id(4), ContainerRuntime: RuntimeDocker}, Problem: ReasonNameNotFound}},
		{"podman", func(h *host) {
			h.process(100, nsid, "/machine.slice/libpod-"+id(5)+".scope")
			h.write(testPodmanList, `[{"id":"`+id(6)+`","names":["other"]},{"id":"`+id(5)+`","names":["cache"]}]`)
		}, Result{Workload: Workload{ContainerID: id(5), ContainerName: "cache", ContainerRuntime: RuntimePodman}}},
		{"docker record not a regular file", func(h *host) {
			h.process(100, nsid, "/system.slice/docker-"+id(4)+".scope")
			h.mkdir(filepath.Join(testDockerContainers, id(4)))
			if err := syscall.Mkfifo(filepath.Join(h.root, testDockerContainers, id(4), "config.v2.json"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, Result{Workload: Workload{ContainerID: id(4), ContainerRuntime: RuntimeDocker}, Problem: ReasonNameNotFound}},
		{"docker, --cgroup-parent: runtime from its state", func(h *host) {
			h.process(100, nsid, "/ci-runners/"+id(4))
			h.write(filepath.Join(testDockerContainers, id(4), "config.v2.json"), `{"Name":"/redis"}`)
		}, Result{Workload: Workload{ContainerID: id(4), ContainerName: "redis", ContainerRuntime: RuntimeDocker}}},
		{"bare ID no runtime knows: no container", func(h *host) {
			h.process(100, nsid, "/ci-runners/"+id(4))
		}, Result{Problem: ReasonNoContainer}},
		{"several containers outside a pod", func(h *host) {
			h.process(100, nsid, "/system.slice/docker-"+id(4)+".scope")
			h.process(101, nsid, "/system.slice/docker-"+id(5)+".scope")
		}, Result{Problem: ReasonSeveralContainers}},
		{"processes in no container", func(h *host) {
			h.process(100, nsid, "/user.slice/user-0.slice/session-1.scope")
		}, Result{Problem: ReasonNoContainer}},
		{"no process in the namespace", func(h *host) {
			h.process(100, nsid+1, "/system.slice/docker-"+id(4)+".scope")
		}, Result{Problem: ReasonNoProcess}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			tt.setup(h)
			got, err := NewResolver(testRoots(h.root), h.nsidOf).Resolve([]int{nsid})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got[nsid], tt.want) {
				t.Errorf("got  %+v\nwant %+v", got[nsid], tt.want)
			}
		})
	}
}

// TestResolveRuntimeRoots: docker's and podman's records are read under the
// roots given (a data disk's), not the defaults.
func TestResolveRuntimeRoots(t *testing.T) {
	h := newHost(t)
	h.process(100, 3, "/docker/"+id(4))
	h.process(101, 4, "/machine.slice/libpod-"+id(5)+".scope")
	h.write(filepath.Join("data/docker/containers", id(4), "config.v2.json"), `{"Name":"/redis"}`)
	h.write("srv/storage/overlay-containers/containers.json", `[{"id":"`+id(5)+`","names":["cache"]}]`)
	// At the defaults, nothing.
	h.write(filepath.Join(testDockerContainers, id(4), "config.v2.json"), `{"Name":"/wrong"}`)
	roots := Roots{Host: h.root, DockerData: "/data/docker", ContainersStorage: "/srv/storage"}
	got, err := NewResolver(roots, h.nsidOf).Resolve([]int{3, 4})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Result{
		3: {Workload: Workload{ContainerID: id(4), ContainerName: "redis", ContainerRuntime: RuntimeDocker}},
		4: {Workload: Workload{ContainerID: id(5), ContainerName: "cache", ContainerRuntime: RuntimePodman}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestDockerDataRoot: the data root as dockerd finds it in its configuration.
func TestDockerDataRoot(t *testing.T) {
	tests := []struct {
		name, config string // config "": no file
		want, source string
		fails        bool
	}{
		{"no configuration", "", DefaultDockerDataRoot, "default", false},
		{"no data-root", `{"log-driver": "journald"}`, DefaultDockerDataRoot, "default", false},
		{"data-root", `{"data-root": "/mnt/data/docker/"}`, "/mnt/data/docker", dockerDaemonConfig, false},
		{"graph, the older name", `{"graph": "/srv/docker"}`, "/srv/docker", dockerDaemonConfig, false},
		{"relative", `{"data-root": "docker"}`, DefaultDockerDataRoot, "default", true},
		{"not JSON", `data-root = "/srv"`, DefaultDockerDataRoot, "default", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			if tt.config != "" {
				h.write(dockerDaemonConfig[1:], tt.config)
			}
			dir, source, err := DockerDataRoot(h.root)
			if dir != tt.want || source != tt.source || (err != nil) != tt.fails {
				t.Errorf("DockerDataRoot = %q, %q, %v; want %q, %q, error %v", dir, source, err, tt.want, tt.source, tt.fails)
			}
		})
	}
}

// TestResolveFollowsChanges: a container started in a namespace after a
// first scan is found by the next; one that exits is gone from the next; a
// process's namespace is asked in the first two scans that see it, and again
// only in a full scan.
func TestResolveFollowsChanges(t *testing.T) {
	const nsid = 3
	h := newHost(t)
	r := NewResolver(testRoots(h.root), h.nsidOf)
	resolve := func() Result {
		t.Helper()
		got, err := r.Resolve([]int{nsid})
		if err != nil {
			t.Fatal(err)
		}
		return got[nsid]
	}
	if got := resolve(); got.Problem != ReasonNoProcess {
		t.Fatalf("before the container: %+v, want problem %s", got, ReasonNoProcess)
	}
	h.process(50, nsid, "/system.slice/docker-"+id(4)+".scope")
	h.write(filepath.Join(testDockerContainers, id(4), "config.v2.json"), `{"Name":"/redis"}`)
	want := Workload{ContainerID: id(4), ContainerName: "redis", ContainerRuntime: RuntimeDocker}
	if got := resolve(); got.Workload != want || got.Problem != "" {
		t.Fatalf("after the container started: %+v, want %+v", got, want)
	}
	asked := h.asked
	resolve() // asks process 50 again: it may have changed namespace just after it started
	if h.asked != asked+1 {
		t.Errorf("%d namespace lookups in the scan after a process's first, want 1", h.asked-asked)
	}
	asked = h.asked
	for range fullScanEvery - 3 {
		resolve()
	}
	if h.asked != asked {
		t.Errorf("%d namespace lookups in scans with no new process, want 0", h.asked-asked)
	}
	resolve() // full
	if h.asked != asked+2 {
		t.Errorf("%d namespace lookups in a full scan of 2 processes, want 2", h.asked-asked)
	}

	// A process seen first in the host's namespace that enters the
	// container's just after (ip netns exec): found by the next scan.
	h.process(60, -1, "/system.slice/docker-"+id(5)+".scope")
	resolve()
	h.nsids[60] = nsid
	if got := resolve(); got.Problem != ReasonSeveralContainers {
		t.Errorf("after a second process entered the namespace: %+v, want problem %s", got, ReasonSeveralContainers)
	}
	h.exit(60)
	h.exit(50)
	if got := resolve(); got.Problem != ReasonNoProcess || got.Workload != (Workload{}) {
		t.Errorf("after the container exited: %+v, want no workload", got)
	}
}

// TestResolveUnreadableProc: processes that cannot be told apart are an
// error, never namespaces without processes.
func TestResolveUnreadableProc(t *testing.T) {
	tests := []struct {
		name   string
		modify func(h *host)
		want   error // nil: any error
	}{
		{"no proc", func(h *host) { os.RemoveAll(filepath.Join(h.root, "proc")) }, nil},
		{"another PID namespace's processes", func(h *host) {
			self := filepath.Join(h.root, "proc", "self")
			os.Remove(self)
			if err := os.Symlink(strconv.Itoa(os.Getpid()+1), self); err != nil {
				t.Fatal(err)
			}
		}, errForeignPIDs},
		{"other users' processes hidden", func(h *host) { h.exit(1) }, errHiddenPIDs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			h.process(100, 3, "/system.slice/docker-"+id(4)+".scope")
			tt.modify(h)
			_, err := NewResolver(testRoots(h.root), h.nsidOf).Resolve([]int{3})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Resolve error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWorkloadAttributes(t *testing.T) {
	w := Workload{ContainerID: "c", PodName: "p", PodNamespace: "n"}
	var got []string
	for _, a := range w.Attributes() {
		got = append(got, string(a.Key)+"="+a.Value.AsString())
	}
	want := []string{"container.id=c", "k8s.pod.name=p", "k8s.namespace.name=n"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Attributes() = %v, want %v", got, want)
	}
}
