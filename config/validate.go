package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The accepted values of the settings that take one of a list.
var (
	xdpModes          = []string{XDPModeAuto, XDPModeNative, XDPModeGeneric}
	ingressHooks      = []string{IngressHookAuto, IngressHookXDP, IngressHookTCX, IngressHookTC}
	egressHooks       = []string{EgressHookAuto, EgressHookTCX, EgressHookTC}
	logLevels         = []string{"debug", "info", "warn", "error"}
	logFormats        = []string{"json", "console"}
	otlpCompressions  = []string{CompressionGzip, CompressionNone}
	otlpTemporalities = []string{TemporalityCumulative, TemporalityDelta}
)

// maxTLSFileSize is the largest CA, certificate or key file read, in bytes.
const maxTLSFileSize = 4 << 20

// Validate checks the values of every setting and returns [Errors] listing
// all problems, or nil. Parse calls it; call it again after [ApplyEnv] or
// after changing a Config in code. Problems carry only Key and Msg here;
// Parse adds the file and position.
//
// When otlp.enabled is true, Validate also reads the files named by
// otlp.ca_file, otlp.cert_file and otlp.key_file and checks that they hold
// a CA certificate and a matching certificate and key; relative paths are
// relative to the working directory.
func (c Config) Validate() error {
	return c.problems().asError()
}

// problems collects the value problems of every section.
func (c Config) problems() Errors {
	var check checker
	if len(c.Interfaces.Include) == 0 {
		check.add("interfaces.include", "must not be empty")
	}
	check.patterns("interfaces.include", c.Interfaces.Include)
	check.patterns("interfaces.exclude", c.Interfaces.Exclude)
	check.oneOf("egress.hook", c.Egress.Hook, egressHooks)
	check.oneOf("xdp.mode", c.XDP.Mode, xdpModes)
	check.oneOf("ingress.hook", c.Ingress.Hook, ingressHooks)
	check.problem("prometheus.listen_address", listenAddressProblem(c.Prometheus.ListenAddress))
	if c.Prometheus.WebConfigFile != "" {
		check.problem("prometheus.web_config_file", webConfigProblem(c.Prometheus.WebConfigFile))
	}
	c.OTLP.check(&check)
	for _, name := range slices.Sorted(maps.Keys(c.Resource.Attributes)) {
		entryKey := fieldPath("resource.attributes", name)
		check.problem(entryKey, attributeNameProblem(name))
		if msg := textProblem(c.Resource.Attributes[name]); msg != "" {
			check.add(entryKey, "attribute value %s", msg)
		}
	}
	check.oneOf("log.level", c.Log.Level, logLevels)
	check.oneOf("log.format", c.Log.Format, logFormats)
	check.intRange("limits.max_interfaces", c.Limits.MaxInterfaces, 1, 65536)
	e := c.Events
	check.intRange("events.sample_rate", e.SampleRate, 1, 1<<20)
	if e.RingSize < 4096 || e.RingSize > 1<<30 || e.RingSize&(e.RingSize-1) != 0 {
		check.add("events.ring_size", "value %d invalid (want a power of two from 4096 to 1073741824)", e.RingSize)
	}
	check.intRange("events.workers", e.Workers, 1, 64)
	if e.DrainInterval < time.Millisecond || e.DrainInterval > time.Second {
		check.add("events.drain_interval", "value %s out of range (want 1ms..1s)", e.DrainInterval)
	}
	if c.Flows.Enabled && !e.Enabled {
		check.add("flows.enabled", "flows are fed by the event stream: set events.enabled to true as well")
	}
	check.intRange("flows.max_series", c.Flows.MaxSeries, 1, 1000000)
	check.positive("flows.idle_timeout", c.Flows.IdleTimeout)
	if !filepath.IsAbs(c.Attribution.HostRoot) {
		check.add("attribution.host_root", "must be an absolute path, got %q", c.Attribution.HostRoot)
	}
	return check.problems
}

// checker collects validation problems by key path.
type checker struct {
	problems Errors
}

func (c *checker) add(key, format string, args ...any) {
	c.problems = append(c.problems, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// problem adds msg unless it is empty.
func (c *checker) problem(key, msg string) {
	if msg != "" {
		c.add(key, "%s", msg)
	}
}

// oneOf reports value unless it is one of allowed.
func (c *checker) oneOf(key, value string, allowed []string) {
	c.problem(key, oneOfProblem(value, allowed))
}

// intRange reports an integer outside [lo, hi].
func (c *checker) intRange(key string, value, lo, hi int) {
	if value < lo || value > hi {
		c.add(key, "value %d out of range (want %d..%d)", value, lo, hi)
	}
}

// positive reports a duration that is not more than 0.
func (c *checker) positive(key string, duration time.Duration) {
	if duration <= 0 {
		c.add(key, "value %s out of range (want more than 0)", duration)
	}
}

// patterns reports empty and malformed glob patterns.
func (c *checker) patterns(key string, patterns []string) {
	for index, pattern := range patterns {
		if pattern == "" {
			c.add(indexPath(key, index), "pattern must not be empty")
		} else if _, err := path.Match(pattern, ""); err != nil {
			c.add(indexPath(key, index), "invalid glob pattern %q (%v)", pattern, err)
		}
	}
}

func (o OTLP) check(c *checker) {
	endpoint, endpointProblem := parseOTLPEndpoint(o.Endpoint)
	c.problem("otlp.endpoint", endpointProblem)
	for _, name := range slices.Sorted(maps.Keys(o.Headers)) {
		entryKey := fieldPath("otlp.headers", name)
		c.problem(entryKey, headerNameProblem(name))
		if msg := textProblem(o.Headers[name]); msg != "" {
			c.add(entryKey, "header value %s", msg)
		}
	}
	c.oneOf("otlp.compression", o.Compression, otlpCompressions)
	c.positive("otlp.interval", o.Interval)
	c.positive("otlp.timeout", o.Timeout)
	c.oneOf("otlp.temporality", o.Temporality, otlpTemporalities)
	o.checkTLSFiles(c, endpoint, endpointProblem == "")
}

// tlsFile is one of the TLS files of the OTLP settings.
type tlsFile struct {
	key, path string
}

// checkTLSFiles checks that the TLS files fit the connection and, when OTLP
// is enabled, that they can be read and used.
func (o OTLP) checkTLSFiles(c *checker, endpoint otlpEndpoint, endpointValid bool) {
	var set []tlsFile
	for _, file := range []tlsFile{{"otlp.ca_file", o.CAFile}, {"otlp.cert_file", o.CertFile}, {"otlp.key_file", o.KeyFile}} {
		if file.path != "" {
			set = append(set, file)
		}
	}
	switch {
	case o.CertFile != "" && o.KeyFile == "":
		c.add("otlp.cert_file", "is set without otlp.key_file (a client certificate needs its key)")
	case o.CertFile == "" && o.KeyFile != "":
		c.add("otlp.key_file", "is set without otlp.cert_file (a client key needs its certificate)")
	}
	if len(set) > 0 && endpointValid {
		if reason := plaintextReason(endpoint, o.Insecure); reason != "" {
			c.add(set[0].key, "TLS files are set but the connection is plaintext (%s)", reason)
		}
	}
	if !o.Enabled {
		return
	}
	contents := map[string][]byte{}
	for _, file := range set {
		data, err := readTLSFile(file.path)
		if err != nil {
			c.add(file.key, "%v", err)
			continue
		}
		contents[file.key] = data
	}
	if data, ok := contents["otlp.ca_file"]; ok && !x509.NewCertPool().AppendCertsFromPEM(data) {
		c.add("otlp.ca_file", "no PEM certificate found in %q", o.CAFile)
	}
	certPEM, certRead := contents["otlp.cert_file"]
	keyPEM, keyRead := contents["otlp.key_file"]
	if certRead && keyRead {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			c.add("otlp.cert_file", "cannot load %q and %q as a certificate and key pair: %v", o.CertFile, o.KeyFile, err)
		}
	}
}

// plaintextReason says why the connection to endpoint is plaintext, or
// returns "" when it uses TLS.
func plaintextReason(endpoint otlpEndpoint, insecure bool) string {
	switch {
	case endpoint.scheme == "http":
		return "otlp.endpoint is an http:// URL"
	case endpoint.scheme == "" && insecure:
		return "otlp.insecure is true"
	}
	return ""
}

// readTLSFile reads a CA, certificate or key file, refusing files larger
// than maxTLSFileSize. Errors name the file.
func readTLSFile(path string) ([]byte, error) {
	data, err := readAtMost(path, maxTLSFileSize+1)
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %w", err)
	}
	if len(data) > maxTLSFileSize {
		return nil, fmt.Errorf("file %q is larger than the limit of %d bytes", path, maxTLSFileSize)
	}
	return data, nil
}

// headerNameProblem describes why name is not a valid gRPC metadata name
// for otlp.headers, or returns "".
func headerNameProblem(name string) string {
	switch {
	case name == "":
		return "header name must not be empty"
	case strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "":
		return fmt.Sprintf("invalid header name %q (want lowercase letters, digits, '-', '_' and '.')", name)
	case strings.HasPrefix(name, "grpc-"):
		return fmt.Sprintf("header name %q is reserved (names starting with \"grpc-\" belong to gRPC)", name)
	}
	return ""
}

// textProblem describes why text cannot be sent as a header value or
// resource attribute (invalid UTF-8 or a control character), or returns "".
func textProblem(text string) string {
	if !utf8.ValidString(text) {
		return "contains invalid UTF-8"
	}
	for _, r := range text {
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	return ""
}

// attributeNameProblem describes why name is not a valid resource attribute
// name, or returns "".
func attributeNameProblem(name string) string {
	if name == "" {
		return "attribute name must not be empty"
	}
	if msg := textProblem(name); msg != "" {
		return "attribute name " + msg
	}
	return ""
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

// hostnameSyntax is RFC 1123 hostname syntax: dot-separated labels of
// letters, digits and inner hyphens, at most 63 bytes each, and an optional
// final dot.
var hostnameSyntax = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

// validHostname checks hostname syntax and a length of at most 253 bytes.
func validHostname(host string) bool {
	return len(strings.TrimSuffix(host, ".")) <= 253 && hostnameSyntax.MatchString(host)
}

// otlpEndpoint is a valid otlp.endpoint taken apart.
type otlpEndpoint struct {
	// scheme is "http" or "https" for a URL, "" for host:port.
	scheme string
	// hostPort is the address to dial, with a decimal port.
	hostPort string
}

// parseOTLPEndpoint parses otlp.endpoint: host:port, or an http or https URL
// whose port defaults to 4317. It returns a description of the problem, or
// "" when the endpoint is valid.
func parseOTLPEndpoint(endpoint string) (otlpEndpoint, string) {
	if strings.Contains(endpoint, "://") {
		return parseOTLPEndpointURL(endpoint)
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return otlpEndpoint{}, fmt.Sprintf("invalid endpoint %q (want host:port or an http:// or https:// URL, e.g. \"localhost:4317\" or \"https://collector.example.com:4317\")", endpoint)
	}
	number, ok := parsePort(port)
	if !ok {
		return otlpEndpoint{}, fmt.Sprintf("invalid port %q in endpoint %q (want an integer 1..65535)", port, endpoint)
	}
	if host == "" || !validListenHost(host, strings.HasPrefix(endpoint, "[")) {
		return otlpEndpoint{}, fmt.Sprintf("invalid host %q in endpoint %q (want an IP address or a hostname)", host, endpoint)
	}
	return otlpEndpoint{hostPort: net.JoinHostPort(host, strconv.Itoa(number))}, ""
}

// parseOTLPEndpointURL parses an otlp.endpoint written as a URL.
func parseOTLPEndpointURL(endpoint string) (otlpEndpoint, string) {
	parsed, err := url.Parse(endpoint)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return otlpEndpoint{}, fmt.Sprintf("invalid endpoint URL %q (%v)", endpoint, err)
	}
	switch {
	case parsed.Scheme != "http" && parsed.Scheme != "https":
		return otlpEndpoint{}, fmt.Sprintf("unsupported scheme %q in endpoint %q (want http or https)", parsed.Scheme, endpoint)
	case parsed.User != nil:
		return otlpEndpoint{}, fmt.Sprintf("endpoint %q must not contain user information (send credentials in otlp.headers)", endpoint)
	case parsed.RawQuery != "" || parsed.ForceQuery || parsed.Fragment != "":
		return otlpEndpoint{}, fmt.Sprintf("endpoint %q must not contain a query or fragment", endpoint)
	}
	host := parsed.Hostname()
	if host == "" {
		return otlpEndpoint{}, fmt.Sprintf("missing host in endpoint %q", endpoint)
	}
	bracketed := strings.HasPrefix(parsed.Host, "[")
	if !validListenHost(host, bracketed) || !bracketed && strings.Contains(host, ":") {
		return otlpEndpoint{}, fmt.Sprintf("invalid host %q in endpoint %q (want an IP address or a hostname)", host, endpoint)
	}
	number := defaultOTLPPort
	if port := parsed.Port(); port != "" || strings.HasSuffix(parsed.Host, ":") {
		var ok bool
		if number, ok = parsePort(port); !ok {
			return otlpEndpoint{}, fmt.Sprintf("invalid port %q in endpoint %q (want an integer 1..65535)", port, endpoint)
		}
	}
	return otlpEndpoint{scheme: parsed.Scheme, hostPort: net.JoinHostPort(host, strconv.Itoa(number))}, ""
}
