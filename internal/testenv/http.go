package testenv

import (
	"context"
	"net"
	"net/http"
	"time"
)

// HTTPClient returns an HTTP client whose connections are opened inside the
// namespace, to reach servers listening on the namespace's own addresses.
func (n *Netns) HTTPClient() *http.Client {
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		var conn net.Conn
		err := n.Do(func() error {
			var err error
			conn, err = (&net.Dialer{}).DialContext(ctx, network, address)
			return err
		})
		return conn, err
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
	}
}
