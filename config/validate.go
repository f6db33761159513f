package config

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// xdpModes lists the accepted values of xdp.mode.
func xdpModes() []string { return []string{XDPModeAuto, XDPModeNative, XDPModeGeneric} }

// logLevels lists the accepted values of log.level.
func logLevels() []string { return []string{"debug", "info", "warn", "error"} }

// logFormats lists the accepted values of log.format.
func logFormats() []string { return []string{"json", "console"} }

// Bounds of limits.max_interfaces.
const (
	minMaxInterfaces = 1
	maxMaxInterfaces = 65536
)

// Validate checks the values of every setting and returns [Errors] listing
// all problems, or nil. Parse calls it; call it again after [ApplyEnv] or
// after changing a Config in code. Problems carry only Key and Msg here;
// Parse adds the file and position.
func (c Config) Validate() error {
	return c.problems().asError()
}

// problems collects the value problems of every section.
func (c Config) problems() Errors {
	var check checker
	c.Interfaces.check(&check)
	c.XDP.check(&check)
	c.Prometheus.check(&check)
	c.Log.check(&check)
	c.Limits.check(&check)
	return check.problems
}

// checker collects validation problems by key path.
type checker struct {
	problems Errors
}

func (c *checker) add(key, format string, args ...any) {
	c.problems = append(c.problems, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// oneOf reports value unless it is one of allowed.
func (c *checker) oneOf(key, value string, allowed []string) {
	if msg := oneOfProblem(value, allowed); msg != "" {
		c.add(key, "%s", msg)
	}
}

func (i Interfaces) check(c *checker) {
	if len(i.Include) == 0 {
		c.add("interfaces.include", "must not be empty")
	}
	checkPatterns(c, "interfaces.include", i.Include)
	checkPatterns(c, "interfaces.exclude", i.Exclude)
}

// checkPatterns reports empty and malformed glob patterns.
func checkPatterns(c *checker, key string, patterns []string) {
	for index, pattern := range patterns {
		itemKey := indexPath(key, index)
		if pattern == "" {
			c.add(itemKey, "pattern must not be empty")
		} else if _, err := path.Match(pattern, ""); err != nil {
			c.add(itemKey, "invalid glob pattern %q (%v)", pattern, err)
		}
	}
}

func (x XDP) check(c *checker) {
	c.oneOf("xdp.mode", x.Mode, xdpModes())
}

func (p Prometheus) check(c *checker) {
	if msg := listenAddressProblem(p.ListenAddress); msg != "" {
		c.add("prometheus.listen_address", "%s", msg)
	}
}

func (l Log) check(c *checker) {
	c.oneOf("log.level", l.Level, logLevels())
	c.oneOf("log.format", l.Format, logFormats())
}

func (l Limits) check(c *checker) {
	if l.MaxInterfaces < minMaxInterfaces || l.MaxInterfaces > maxMaxInterfaces {
		c.add("limits.max_interfaces", "value %d out of range (want %d..%d)", l.MaxInterfaces, minMaxInterfaces, maxMaxInterfaces)
	}
}

// oneOfProblem describes why value is not one of allowed, or returns "".
func oneOfProblem(value string, allowed []string) string {
	if slices.Contains(allowed, value) {
		return ""
	}
	return fmt.Sprintf("invalid value %q (want %s)", value, listAlternatives(allowed))
}

// listAlternatives writes ["a", "b", "c"] as "a, b or c".
func listAlternatives(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// listenAddressProblem describes why address is not a valid host:port, or
// returns "".
func listenAddressProblem(address string) string {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Sprintf("invalid address %q (want host:port, e.g. \":9743\" or \"127.0.0.1:9743\")", address)
	}
	if _, ok := parsePort(port); !ok {
		return fmt.Sprintf("invalid port %q in address %q (want an integer 1..65535)", port, address)
	}
	bracketed := strings.HasPrefix(address, "[")
	if !validListenHost(host, bracketed) {
		return fmt.Sprintf("invalid host %q in address %q (want nothing, an IP address or a hostname)", host, address)
	}
	return ""
}

// parsePort parses a decimal port number 1..65535 (digits only).
func parsePort(text string) (int, bool) {
	if text == "" || len(text) > 5 || strings.Trim(text, "0123456789") != "" {
		return 0, false
	}
	port, err := strconv.Atoi(text)
	if err != nil || port < 1 || port > 65535 {
		return 0, false
	}
	return port, true
}

// validListenHost accepts an empty host, an IP address (IPv6 only inside
// brackets) or a hostname.
func validListenHost(host string, bracketed bool) bool {
	if bracketed {
		addr, err := netip.ParseAddr(host)
		return err == nil && addr.Is6()
	}
	if host == "" {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return validHostname(host)
}

// validHostname checks RFC 1123 hostname syntax: dot-separated labels of
// letters, digits and inner hyphens, at most 63 bytes each and 253 in all.
func validHostname(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if !validHostnameLabel(label) {
			return false
		}
	}
	return true
}

func validHostnameLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for _, r := range label {
		isAlphanumeric := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !isAlphanumeric && r != '-' {
			return false
		}
	}
	return true
}
