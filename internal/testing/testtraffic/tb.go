package testtraffic

// testingTB is the part of testing.TB the helpers use.
type testingTB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}
