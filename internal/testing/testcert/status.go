package testcert

import (
	"io"
	"net/http"
	"testing"
)

// Status GETs url with client, authenticated as user with password unless
// user is empty, and returns the response's status code (its body read and
// discarded), or the error of the request.
func Status(tb testing.TB, client *http.Client, url, user, password string) (int, error) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
