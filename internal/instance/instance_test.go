package instance

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

func TestAcquire(t *testing.T) {
	name := fmt.Sprintf("packet-exporter-test-%d", os.Getpid())
	first, err := Acquire(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(name); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Acquire: %v, want ErrRunning", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Acquire(name)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	again.Release()
}

func TestAcquireIn(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.NewNetns(t)
	name := testenv.UniqueName("lock")
	inNamespace, err := AcquireIn(ns.Handle, name)
	if err != nil {
		t.Fatal(err)
	}
	defer inNamespace.Release()
	// The lock is the namespace's: taken there, free here.
	if err := ns.Do(func() error {
		_, err := Acquire(name)
		return err
	}); !errors.Is(err, ErrRunning) {
		t.Fatalf("Acquire inside the namespace: %v, want ErrRunning", err)
	}
	if _, err := AcquireIn(ns.Handle, name); !errors.Is(err, ErrRunning) {
		t.Fatalf("second AcquireIn: %v, want ErrRunning", err)
	}
	here, err := Acquire(name)
	if err != nil {
		t.Fatalf("Acquire in the test's own namespace: %v", err)
	}
	here.Release()
}
