package instance

import (
	"errors"
	"fmt"
	"os"
	"testing"
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
