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
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// xdpModes lists the accepted values of xdp.mode.
func xdpModes() []string { return []string{XDPModeAuto, XDPModeNative, XDPModeGeneric} }

// logLevels lists the accepted values of log.level.
func logLevels() []string { return []string{"debug", "info", "warn", "error"} }

// logFormats lists the accepted values of log.format.
func logFormats() []string { return []string{"json", "console"} }

// otlpCompressions lists the accepted values of otlp.compression.
func otlpCompressions() []string { return []string{CompressionGzip, CompressionNone} }

// otlpTemporalities lists the accepted values of otlp.temporality.
func otlpTemporalities() []string { return []string{TemporalityCumulative, TemporalityDelta} }

// maxTLSFileSize is the largest CA, certificate or key file read, in bytes.
const maxTLSFileSize = 4 << 20

// Bounds of limits.max_interfaces.
const (
	minMaxInterfaces = 1
	maxMaxInterfaces = 65536
)

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
	c.Interfaces.check(&check)
	c.Egress.check(&check)
	c.XDP.check(&check)
	c.Ingress.check(&check)
	c.Prometheus.check(&check)
	c.OTLP.check(&check)
	c.Resource.check(&check)
	c.Log.check(&check)
	c.Limits.check(&check)
	c.Events.check(&check)
	c.Flows.check(&check, c.Events)
	c.Attribution.check(&check)
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

func (a Attribution) check(c *checker) {
	if !filepath.IsAbs(a.HostRoot) {
		c.add("attribution.host_root", "must be an absolute path, got %q", a.HostRoot)
	}
}

func (x XDP) check(c *checker) {
	c.oneOf("xdp.mode", x.Mode, xdpModes())
}

func (i Ingress) check(c *checker) {
	c.oneOf("ingress.hook", i.Hook, []string{IngressHookAuto, IngressHookXDP, IngressHookTCX, IngressHookTC})
}

func (e Egress) check(c *checker) {
	c.oneOf("egress.hook", e.Hook, []string{EgressHookAuto, EgressHookTCX, EgressHookTC})
}

func (p Prometheus) check(c *checker) {
	if msg := listenAddressProblem(p.ListenAddress); msg != "" {
		c.add("prometheus.listen_address", "%s", msg)
	}
	p.checkWebConfigFile(c)
}

func (o OTLP) check(c *checker) {
	endpoint, endpointProblem := parseOTLPEndpoint(o.Endpoint)
	if endpointProblem != "" {
		c.add("otlp.endpoint", "%s", endpointProblem)
	}
	checkHeaders(c, "otlp.headers", o.Headers)
	c.oneOf("otlp.compression", o.Compression, otlpCompressions())
	c.positive("otlp.interval", o.Interval)
	c.positive("otlp.timeout", o.Timeout)
	c.oneOf("otlp.temporality", o.Temporality, otlpTemporalities())
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

// checkHeaders reports invalid gRPC metadata names and values, in the order
// of the names.
func checkHeaders(c *checker, key string, headers map[string]string) {
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		entryKey := fieldPath(key, name)
		if msg := headerNameProblem(name); msg != "" {
			c.add(entryKey, "%s", msg)
		}
		if msg := textProblem(headers[name]); msg != "" {
			c.add(entryKey, "header value %s", msg)
		}
	}
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

func (r Resource) check(c *checker) {
	for _, name := range slices.Sorted(maps.Keys(r.Attributes)) {
		entryKey := fieldPath("resource.attributes", name)
		if msg := attributeNameProblem(name); msg != "" {
			c.add(entryKey, "%s", msg)
		}
		if msg := textProblem(r.Attributes[name]); msg != "" {
			c.add(entryKey, "attribute value %s", msg)
		}
	}
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

func (l Log) check(c *checker) {
	c.oneOf("log.level", l.Level, logLevels())
	c.oneOf("log.format", l.Format, logFormats())
}

func (l Limits) check(c *checker) {
	if l.MaxInterfaces < minMaxInterfaces || l.MaxInterfaces > maxMaxInterfaces {
		c.add("limits.max_interfaces", "value %d out of range (want %d..%d)", l.MaxInterfaces, minMaxInterfaces, maxMaxInterfaces)
	}
}

func (e Events) check(c *checker) {
	c.intRange("events.sample_rate", e.SampleRate, 1, 1<<20)
	if e.RingSize < 4096 || e.RingSize > 1<<30 || e.RingSize&(e.RingSize-1) != 0 {
		c.add("events.ring_size", "value %d invalid (want a power of two from 4096 to 1073741824)", e.RingSize)
	}
	c.intRange("events.workers", e.Workers, 1, 64)
	if e.DrainInterval < time.Millisecond || e.DrainInterval > time.Second {
		c.add("events.drain_interval", "value %s out of range (want 1ms..1s)", e.DrainInterval)
	}
}

func (f Flows) check(c *checker, events Events) {
	if f.Enabled && !events.Enabled {
		c.add("flows.enabled", "flows are fed by the event stream: set events.enabled to true as well")
	}
	c.intRange("flows.max_series", f.MaxSeries, 1, 1000000)
	c.positive("flows.idle_timeout", f.IdleTimeout)
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
