package testexporter

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// TestProcfs reads this test process's own status, memory and descriptors.
func TestProcfs(t *testing.T) {
	s, err := ProcStatus(fmt.Sprintf("/proc/%d/status", os.Getpid()))
	if err != nil || s["Pid"] != strconv.Itoa(os.Getpid()) {
		t.Errorf("ProcStatus: Pid %q, %v", s["Pid"], err)
	}
	if peak, current, err := Memory(os.Getpid()); err != nil || current == 0 || peak < current {
		t.Errorf("Memory: peak %d, current %d, %v", peak, current, err)
	}
	if n, err := OpenFiles(os.Getpid()); err != nil || n < 3 {
		t.Errorf("OpenFiles: %d, %v", n, err)
	}
	if _, _, err := Memory(-1); err == nil {
		t.Error("Memory of no process: no error")
	}
}
