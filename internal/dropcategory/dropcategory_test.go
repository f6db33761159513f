package dropcategory_test

import (
	"slices"
	"testing"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/dropcategory"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// TestEveryReasonOfTheKernel: every drop reason the running kernel's BTF
// names is in the table, so that a kernel with new reasons fails here
// instead of leaving them unclassified.
func TestEveryReasonOfTheKernel(t *testing.T) {
	reasons, err := bpf.LoadDropReasons()
	if err != nil {
		testenv.Skip(t, "the kernel's drop reasons: %v", err)
	}
	var missing []string
	for _, name := range reasons.Names() {
		if !dropcategory.Known(name) {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("reasons of this kernel not in the table: %q", missing)
	}
}

func TestOf(t *testing.T) {
	for reason, want := range map[string]string{
		"no_socket":      dropcategory.Host,
		"netfilter_drop": dropcategory.Network,
		"socket_rcvbuff": dropcategory.Socket,
		"socket_close":   dropcategory.Socket,
		"queue_purge":    dropcategory.Socket,
		"qdisc_drop":     dropcategory.Network,
		"not_specified":  dropcategory.Unclassified,
		"unknown_300":    dropcategory.Unclassified,
		"ptype_absent":   dropcategory.Host, // 5.19 to 6.3
	} {
		if got := dropcategory.Of(reason); got != want {
			t.Errorf("Of(%s) = %s, want %s", reason, got, want)
		}
	}
}
