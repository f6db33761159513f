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
	for _, tc := range []struct {
		reason string
		note   bpf.DropNote
		want   string
	}{
		{"no_socket", bpf.DropNoteNone, dropcategory.Host},
		{"no_socket", bpf.DropNoteEchoReplyCopied, dropcategory.Delivered},
		{"no_socket", bpf.DropNoteTCPNotSYN, dropcategory.Socket},
		{"netfilter_drop", bpf.DropNoteNone, dropcategory.Network},
		{"socket_rcvbuff", bpf.DropNoteNone, dropcategory.Socket},
		{"socket_close", bpf.DropNoteNone, dropcategory.Socket},
		{"queue_purge", bpf.DropNoteNone, dropcategory.Socket},
		{"qdisc_drop", bpf.DropNoteNone, dropcategory.Network},
		{"not_specified", bpf.DropNoteNone, dropcategory.Unclassified},
		{"unknown_300", bpf.DropNoteNone, dropcategory.Unclassified},
		{"ptype_absent", bpf.DropNoteNone, dropcategory.Host}, // 5.19 to 6.3
	} {
		if got := dropcategory.Of(tc.reason, tc.note); got != tc.want {
			t.Errorf("Of(%s, %d) = %s, want %s", tc.reason, tc.note, got, tc.want)
		}
	}
}

func TestIsLoss(t *testing.T) {
	for category, want := range map[string]bool{
		dropcategory.Network: true, dropcategory.Host: true,
		dropcategory.Socket: false, dropcategory.Delivered: false, dropcategory.Unclassified: false, "": false,
	} {
		if got := dropcategory.IsLoss(category); got != want {
			t.Errorf("IsLoss(%q) = %v, want %v", category, got, want)
		}
	}
}
