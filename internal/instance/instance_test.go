package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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

// A holder that answers handovers is asked once, releases, and the asker
// gets the lock; one that does not answer makes the asker give up after its
// timeout; a release without a request closes the channel with false.
func TestHandover(t *testing.T) {
	name := testenv.UniqueName("lock")
	holder, err := Acquire(name)
	if err != nil {
		t.Fatal(err)
	}
	asked := holder.Handover()
	got := make(chan error, 1)
	var taken *Lock
	go func() {
		var err error
		taken, err = RequestHandover(context.Background(), name, 5*time.Second)
		got <- err
	}()
	select {
	case requested := <-asked:
		if !requested {
			t.Fatal("handover channel closed without a request")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no handover request within 5s")
	}
	holder.Release()
	if err := <-got; err != nil {
		t.Fatalf("RequestHandover: %v", err)
	}
	defer taken.Release()

	// taken does not answer: a second asker times out.
	start := time.Now()
	_, err = RequestHandover(context.Background(), name, 200*time.Millisecond)
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "did not hand over within 200ms") {
		t.Errorf("RequestHandover of a holder that does not answer: %v", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond || waited > 2*time.Second {
		t.Errorf("gave up after %s, want about 200ms", waited)
	}

	other, err := Acquire(testenv.UniqueName("lock"))
	if err != nil {
		t.Fatal(err)
	}
	unasked := other.Handover()
	other.Release()
	if requested, open := <-unasked; requested || open {
		t.Errorf("after a release without a request: received %v (open %v), want the channel closed", requested, open)
	}
}
