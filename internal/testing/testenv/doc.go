// Package testenv provides the privileged test fixtures used by the kernel-level
// tests of packet-exporter: privilege checks that are strict in CI, unique names,
// throw-away network namespaces, and veth pairs between them whose kernel
// counters can be compared exactly against the traffic a test sends.
//
// Everything a helper creates is registered with tb.Cleanup, so it is removed
// when the test ends, whether it passed, failed or panicked. Namespaces are
// additionally recorded in a small registry under /run so that namespaces left
// behind by a test binary that was killed (for example by the go test timeout)
// are removed by the next test binary that uses this package.
//
// All traffic stays inside namespaces created by the test: veth pairs are created
// directly inside their namespaces and never appear in the host namespace, and
// their addresses (10.200.0.0/16 and fd00::/16) only exist inside those
// namespaces.
//
// The helpers need root (or CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_BPF), the ip
// command from iproute2, and a kernel with network namespaces and veth. Tests
// should call RequireRoot first; when the environment variable CI is "true",
// missing privileges fail the test instead of skipping it.
package testenv
