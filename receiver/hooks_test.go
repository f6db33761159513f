package receiver_test

import (
	"sync"
	"testing"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
)

// haveTCX reports whether the running kernel has tcx (Linux 6.6).
var haveTCX = sync.OnceValue(func() bool { return bpf.ProbeFeatures().Has(bpf.FeatureTCX) })

// tcHook is the hook tc policies set to auto (the defaults) attach on the
// running kernel: tcx, or legacy tc before 6.6. Tests of the defaults expect
// it, so they run through legacy tc on older kernels (make test-kernels).
func tcHook() string {
	if haveTCX() {
		return config.HookTCX
	}
	return config.HookTC
}

// requireTCX skips a test of tcx itself on a kernel without it, where its
// legacy-tc counterpart runs instead. Not a privilege skip: it holds in CI.
func requireTCX(t *testing.T) {
	t.Helper()
	if !haveTCX() {
		t.Skip("the kernel has no tcx (Linux 6.6); the legacy tc tests cover this hook here")
	}
}
