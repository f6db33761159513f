package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
)

// maxPrefixLen is the longest prefix accepted by UniqueName.
const maxPrefixLen = 5

var (
	namesMu sync.Mutex
	// namesUsed holds every suffix handed out by this process, so that names are
	// unique within the process even if the random source repeats itself.
	namesUsed = map[string]struct{}{}
)

// UniqueName returns a short name made of prefix followed by 8 random hex
// characters, for example "pe3fa9c01b". The name is unique within the process
// (suffixes are never handed out twice) and random across processes, at most 13
// bytes long, and valid both as a network interface name (<= 15 bytes) and as
// a network namespace name. prefix must be at most 5 bytes of [A-Za-z0-9_-];
// UniqueName panics otherwise, as that is a programming error.
func UniqueName(prefix string) string {
	if len(prefix) > maxPrefixLen {
		panic(fmt.Sprintf("testenv.UniqueName: prefix %q is longer than %d bytes", prefix, maxPrefixLen))
	}
	for _, c := range []byte(prefix) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			panic(fmt.Sprintf("testenv.UniqueName: prefix %q contains %q; use [A-Za-z0-9_-]", prefix, c))
		}
	}
	namesMu.Lock()
	defer namesMu.Unlock()
	for {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("testenv.UniqueName: crypto/rand: %v", err))
		}
		suffix := hex.EncodeToString(b[:])
		if _, dup := namesUsed[suffix]; dup {
			continue
		}
		namesUsed[suffix] = struct{}{}
		return prefix + suffix
	}
}
