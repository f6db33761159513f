package testenv

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// HTTPClient returns an HTTP client whose connections are opened inside the
// namespace, to reach servers listening on the namespace's own addresses.
func (n *Netns) HTTPClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: n.DialContext, DisableKeepAlives: true},
	}
}

// DialContext opens a connection inside the namespace.
func (n *Netns) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return n.DialWith(ctx, &net.Dialer{}, network, address)
}

// DialWith opens a connection inside the namespace with dialer d (socket
// options, timeouts).
func (n *Netns) DialWith(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := n.Do(func() error {
		var err error
		conn, err = d.DialContext(ctx, network, address)
		return err
	})
	return conn, err
}

// Forward makes a TCP server that listens on address inside the namespace
// reachable from the test's own namespace, for programs that cannot dial
// into a namespace (a browser): it listens on a free port of 127.0.0.1 and
// relays each connection to address. It returns the local address; the test's
// cleanup closes the listener and every relayed connection.
func (n *Netns) Forward(tb testing.TB, address string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: forward to %s in %s: %v", address, n.Name, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	track := func(c net.Conn, open bool) {
		mu.Lock()
		defer mu.Unlock()
		if open {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			local, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer local.Close()
				remote, err := n.DialContext(context.Background(), "tcp", address)
				if err != nil {
					return // the client sees its connection closed
				}
				defer remote.Close()
				track(local, true)
				track(remote, true)
				defer track(local, false)
				defer track(remote, false)
				done := make(chan struct{})
				go func() {
					relay(remote, local)
					close(done)
				}()
				relay(local, remote)
				<-done
			})
		}
	})
	return ln.Addr().String()
}

// relay copies from src to dst, then closes dst's writing side, so that
// its reader sees the end as src's writer made it.
func relay(dst, src net.Conn) {
	io.Copy(dst, src)
	if tcp, ok := dst.(*net.TCPConn); ok {
		tcp.CloseWrite()
		return
	}
	dst.Close()
}
