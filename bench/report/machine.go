package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where the suite ran.
type machine struct {
	cpu, memory, kernel, virt, goVersion, ebpf, revision string
	load                                                 string // 1-minute load average before and after the suite
	cpus                                                 int
	date                                                 time.Time
}

func describeMachine(root string) machine {
	m := machine{cpus: runtime.NumCPU(), date: time.Now().UTC()}
	m.cpu = firstMatch("/proc/cpuinfo", "model name", "unknown CPU")
	if kb, err := strconv.ParseFloat(strings.Fields(firstMatch("/proc/meminfo", "MemTotal", "0 kB"))[0], 64); err == nil {
		m.memory = fmt.Sprintf("%.0f GiB", kb/(1<<20))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if vm := command(root, "systemd-detect-virt", "--vm"); vm != "" && vm != "none" {
		m.virt = vm + " virtual machine"
	} else if strings.Contains(firstMatch("/proc/cpuinfo", "flags", ""), " hypervisor") {
		m.virt = "virtual machine"
	}
	if c := command(root, "systemd-detect-virt", "--container"); c != "" && c != "none" {
		m.virt = strings.TrimPrefix(m.virt+", in a "+c+" container", ", ")
	}
	m.goVersion = command(root, "go", "env", "GOVERSION")
	m.ebpf = strings.TrimPrefix(command(root, "go", "list", "-m", "github.com/cilium/ebpf"), "github.com/cilium/ebpf ")
	m.revision = command(root, "git", "describe", "--always", "--dirty")
	return m
}

// firstMatch returns the value of the first "key: value" line of file whose
// key is key.
func firstMatch(file, key, fallback string) string {
	f, err := os.Open(file)
	if err != nil {
		return fallback
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return fallback
}

// command returns the trimmed output of a command, or "" if it failed.
func command(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
