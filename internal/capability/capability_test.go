package capability

import (
	"strings"
	"testing"
)

func TestCapSet(t *testing.T) {
	if got := Steady.String(); got != "CAP_NET_ADMIN,CAP_PERFMON,CAP_BPF" {
		t.Errorf("Steady = %s", got)
	}
	if got := Set(0).String(); got != "none" {
		t.Errorf("empty set = %s", got)
	}
	if got := Of(0, 40, 63).String(); got != "CAP_CHOWN,CAP_CHECKPOINT_RESTORE,CAP_63" {
		t.Errorf("set = %s", got)
	}
}

func TestCheckCapabilities(t *testing.T) {
	cases := []struct {
		effective Set
		missing   []string
	}{
		{Of(BPF, NetAdmin, Perfmon), nil},
		{Of(SysAdmin, NetAdmin), nil}, // CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON
		{^Set(0), nil},
		{Of(BPF, NetAdmin), []string{"CAP_PERFMON"}},
		{Of(BPF, Perfmon), []string{"CAP_NET_ADMIN"}},
		{Of(NetAdmin, Perfmon), []string{"CAP_BPF"}},
		{Of(SysAdmin), []string{"CAP_NET_ADMIN"}},
		{0, []string{"CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"}},
	}
	for _, tc := range cases {
		err := Check(tc.effective)
		if len(tc.missing) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.effective, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error, want %v missing", tc.effective, tc.missing)
			continue
		}
		listed := strings.SplitN(err.Error(), ";", 2)[0]
		for _, c := range []string{"CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"} {
			want := strings.Contains(strings.Join(tc.missing, " "), c)
			if strings.Contains(listed, c+" (") != want {
				t.Errorf("%s: %q lists %s: %v, want %v", tc.effective, listed, c, !want, want)
			}
		}
	}
}

// capMask is how /proc/PID/status writes a capability set.
