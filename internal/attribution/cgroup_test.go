package attribution

import (
	"strings"
	"testing"
)

const (
	testID  = "3f9a2c1b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"
	testUID = "0e2a6c27-1f3d-4a8b-9c1e-5d6f7a8b9c0d"
)

func TestParseCgroupPath(t *testing.T) {
	uidUnderscores := strings.ReplaceAll(testUID, "-", "_")
	tests := []struct {
		name, path string
		want       container
		ok         bool
	}{
		{"kubelet systemd, containerd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidUnderscores + ".slice/cri-containerd-" + testID + ".scope",
			container{id: testID, runtime: RuntimeContainerd, podUID: testUID}, true},
		{"kubelet systemd, guaranteed, CRI-O", "/kubepods.slice/kubepods-pod" + uidUnderscores + ".slice/crio-" + testID + ".scope",
			container{id: testID, runtime: RuntimeCRIO, podUID: testUID}, true},
		{"kubelet cgroupfs, runtime not in the path", "/kubepods/burstable/pod" + testUID + "/" + testID,
			container{id: testID, podUID: testUID}, true},
		{"kubelet cgroupfs, CRI-O", "/kubepods/pod" + testUID + "/crio-" + testID,
			container{id: testID, runtime: RuntimeCRIO, podUID: testUID}, true},
		{"inside a cgroup namespace", "/../../kubepods/besteffort/pod" + testUID + "/" + testID,
			container{id: testID, podUID: testUID}, true},
		{"docker systemd", "/system.slice/docker-" + testID + ".scope", container{id: testID, runtime: RuntimeDocker}, true},
		{"docker cgroupfs", "/docker/" + testID, container{id: testID, runtime: RuntimeDocker}, true},
		{"podman", "/machine.slice/libpod-" + testID + ".scope", container{id: testID, runtime: RuntimePodman}, true},
		{"rootless podman", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + testID + ".scope",
			container{id: testID, runtime: RuntimePodman}, true},
		{"CRI-O monitor", "/kubepods.slice/kubepods-pod" + uidUnderscores + ".slice/crio-conmon-" + testID + ".scope", container{}, false},
		{"podman monitor", "/machine.slice/libpod-conmon-" + testID + ".scope", container{}, false},
		{"bare ID elsewhere (a --cgroup-parent)", "/something/" + testID, container{id: testID, bare: true}, true},
		{"bare ID at the root", "/" + testID, container{id: testID, bare: true}, true},
		{"host service", "/system.slice/sshd.service", container{}, false},
		{"root", "/", container{}, false},
		{"short ID", "/docker/3f9a2c1b", container{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseCgroupPath(tt.path)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseCgroupPath(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseCgroupFile(t *testing.T) {
	tests := []struct {
		name, file string
		want       container
		ok         bool
	}{
		{"cgroup v2", "0::/system.slice/docker-" + testID + ".scope\n", container{id: testID, runtime: RuntimeDocker}, true},
		{"cgroup v1, the container in a later hierarchy", "12:cpuset:/\n11:memory:/docker/" + testID + "\n1:name=systemd:/docker/" + testID + "\n",
			container{id: testID, runtime: RuntimeDocker}, true},
		{"host process", "0::/init.scope\n", container{}, false},
		{"garbage", "not a cgroup file\n\n", container{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseCgroupFile(strings.NewReader(tt.file))
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseCgroupFile = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
