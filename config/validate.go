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
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTLSFileSize is the largest CA, certificate or key file read, in bytes.
const maxTLSFileSize = 4 << 20

// Validate checks every setting and returns [Errors] listing all problems,
// or nil. Parse calls it; call it again after [ApplyEnv] or after changing a
// Config in code. Its problems carry only Key and Msg.
//
// When otlp.enabled is true, Validate also reads otlp.ca_file,
// otlp.cert_file and otlp.key_file (relative to the working directory) and
// checks that they hold a CA certificate and a matching certificate and key.
func (c Config) Validate() error {
	return c.problems().asError()
}

// problems runs the check rules of every setting, in the order of settings.
func (c Config) problems() Errors {
	var check Errors
	config := reflect.ValueOf(c)
	for _, s := range settings {
		for rule := range strings.SplitSeq(s.tag.Get("check"), ",") {
			if name, arg, _ := strings.Cut(rule, "="); name != "" {
				rules[name](&check, s.key, arg, config.FieldByIndex(s.index), c)
			}
		}
	}
	return check
}

// rules are the checks a check tag names, "name" or "name=argument": each
// reports the problems of the value v of the key key.
var rules = map[string]func(check *Errors, key, arg string, v reflect.Value, c Config){
	// oneof=a b c: one of the words.
	"oneof": func(check *Errors, key, arg string, v reflect.Value, _ Config) {
		check.problem(key, oneOfProblem(v.String(), strings.Fields(arg)))
	},
	// range=lo..hi: an integer or a duration from lo to hi.
	"range": func(check *Errors, key, arg string, v reflect.Value, _ Config) {
		if lo, hi := bounds(v.Type(), arg); v.Int() < lo || v.Int() > hi {
			check.add(key, "value %v out of range (want %s)", v, arg)
		}
	},
	// pow2=lo..hi: a power of two from lo to hi.
	"pow2": func(check *Errors, key, arg string, v reflect.Value, _ Config) {
		if lo, hi := bounds(v.Type(), arg); v.Int() < lo || v.Int() > hi || v.Int()&(v.Int()-1) != 0 {
			check.add(key, "value %v invalid (want a power of two from %s)", v, strings.Replace(arg, "..", " to ", 1))
		}
	},
	"positive": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		if v.Int() <= 0 {
			check.add(key, "value %v out of range (want more than 0)", v)
		}
	},
	"nonempty": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		if v.Len() == 0 {
			check.add(key, "must not be empty")
		}
	},
	"glob": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		for index, pattern := range v.Interface().([]string) {
			if _, err := path.Match(pattern, ""); pattern == "" {
				check.add(indexPath(key, index), "pattern must not be empty")
			} else if err != nil {
				check.add(indexPath(key, index), "invalid glob pattern %q (%v)", pattern, err)
			}
		}
	},
	"abs": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		if !filepath.IsAbs(v.String()) {
			check.add(key, "must be an absolute path, got %q", v.String())
		}
	},
	"abs_or_empty": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		if v.String() != "" && !filepath.IsAbs(v.String()) {
			check.add(key, "must be an absolute path or empty, got %q", v.String())
		}
	},
	"listen": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		check.problem(key, listenAddressProblem(v.String()))
	},
	"endpoint": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		_, problem := parseOTLPEndpoint(v.String())
		check.problem(key, problem)
	},
	"webconfig": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		if v.String() != "" {
			check.problem(key, webConfigProblem(v.String()))
		}
	},
	"headers": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		check.entries(key, v.Interface().(map[string]string), headerNameProblem, "header value %s")
	},
	"attributes": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		check.entries(key, v.Interface().(map[string]string), attributeNameProblem, "attribute value %s")
	},
	"needsevents": func(check *Errors, key, _ string, v reflect.Value, c Config) {
		if v.Bool() && !c.Events.Enabled {
			check.add(key, "flows are fed by the event stream: set events.enabled to true as well")
		}
	},
	"tls": func(check *Errors, _, _ string, _ reflect.Value, c Config) {
		c.OTLP.checkTLSFiles(check)
	},
	// ports: a list of distinct UDP or TCP ports.
	"ports": func(check *Errors, key, _ string, v reflect.Value, _ Config) {
		seen := map[int]bool{}
		for index, port := range v.Interface().([]int) {
			switch {
			case port < 1 || port > 65535:
				check.add(indexPath(key, index), "port %d out of range (want 1..65535)", port)
			case seen[port]:
				check.add(indexPath(key, index), "port %d listed twice", port)
			}
			seen[port] = true
		}
	},
	"tunnelports": func(check *Errors, key, _ string, _ reflect.Value, c Config) {
		vxlan := map[int]bool{}
		for _, port := range c.Tunnels.VXLANPorts {
			vxlan[port] = true
		}
		for index, port := range c.Tunnels.GenevePorts {
			if vxlan[port] {
				check.add(indexPath(fieldPath(key, "geneve_ports"), index), "port %d is a VXLAN port too (tunnels.vxlan_ports): a port carries one tunnel type", port)
			}
		}
	},
}

// bounds parses the bounds "lo..hi" of a range of values of type t.
func bounds(t reflect.Type, arg string) (lo, hi int64) {
	loText, hiText, _ := strings.Cut(arg, "..")
	loValue, _ := scalarTypes[t].parse(loText)
	hiValue, _ := scalarTypes[t].parse(hiText)
	return reflect.ValueOf(loValue).Int(), reflect.ValueOf(hiValue).Int()
}

// add records a validation problem of the key key.
func (es *Errors) add(key, format string, args ...any) {
	*es = append(*es, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// problem adds msg unless it is empty.
func (es *Errors) problem(key, msg string) {
	if msg != "" {
		es.add(key, "%s", msg)
	}
}

// entries checks the names and values of a map, in name order.
func (es *Errors) entries(key string, entries map[string]string, nameProblem func(string) string, valueFormat string) {
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		es.problem(fieldPath(key, name), nameProblem(name))
		if msg := textProblem(entries[name]); msg != "" {
			es.add(fieldPath(key, name), valueFormat, msg)
		}
	}
}

// checkTLSFiles checks that the TLS files fit the connection and, when OTLP
// is enabled, that they can be read and used.
func (o OTLP) checkTLSFiles(c *Errors) {
	files := map[string]string{"otlp.ca_file": o.CAFile, "otlp.cert_file": o.CertFile, "otlp.key_file": o.KeyFile}
	set := slices.DeleteFunc([]string{"otlp.ca_file", "otlp.cert_file", "otlp.key_file"}, func(key string) bool { return files[key] == "" })
	switch {
	case o.CertFile != "" && o.KeyFile == "":
		c.add("otlp.cert_file", "is set without otlp.key_file (a client certificate needs its key)")
	case o.CertFile == "" && o.KeyFile != "":
		c.add("otlp.key_file", "is set without otlp.cert_file (a client key needs its certificate)")
	}
	if endpoint, problem := parseOTLPEndpoint(o.Endpoint); len(set) > 0 && problem == "" {
		if endpoint.scheme == "http" {
			c.add(set[0], "TLS files are set but the connection is plaintext (otlp.endpoint is an http:// URL)")
		} else if endpoint.scheme == "" && o.Insecure {
			c.add(set[0], "TLS files are set but the connection is plaintext (otlp.insecure is true)")
		}
	}
	if !o.Enabled {
		return
	}
	contents := map[string][]byte{}
	for _, key := range set {
		data, err := readAtMost(files[key], maxTLSFileSize+1)
		switch {
		case err != nil:
			c.add(key, "cannot read the file: %v", err)
		case len(data) > maxTLSFileSize:
			c.add(key, "file %q is larger than the limit of %d bytes", files[key], maxTLSFileSize)
		default:
			contents[key] = data
		}
	}
	if data, ok := contents["otlp.ca_file"]; ok && !x509.NewCertPool().AppendCertsFromPEM(data) {
		c.add("otlp.ca_file", "no PEM certificate found in %q", o.CAFile)
	}
	certPEM, certRead := contents["otlp.cert_file"]
	if keyPEM, keyRead := contents["otlp.key_file"]; certRead && keyRead {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			c.add("otlp.cert_file", "cannot load %q and %q as a certificate and key pair: %v", o.CertFile, o.KeyFile, err)
		}
	}
}

// headerNameProblem describes why name is not a valid gRPC metadata name, or
// returns "".
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
	if i := strings.IndexFunc(text, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(text[i:])
		return fmt.Sprintf("contains the control character %U", r)
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
	_, problem := splitHostPort("address", address, `host:port, e.g. ":9743" or "127.0.0.1:9743"`, true)
	return problem
}

// splitHostPort checks the host:port text, named what in messages (which
// show example when it is not host:port at all), and returns it with the
// port written in decimal; the host may be empty when emptyHost is true.
func splitHostPort(what, text, example string, emptyHost bool) (string, string) {
	host, port, err := net.SplitHostPort(text)
	number, portOK := parsePort(port)
	hosts := "an IP address or a hostname"
	if emptyHost {
		hosts = "nothing, " + hosts
	}
	switch {
	case err != nil:
		return "", fmt.Sprintf("invalid %s %q (want %s)", what, text, example)
	case !portOK:
		return "", fmt.Sprintf("invalid port %q in %s %q (want an integer 1..65535)", port, what, text)
	case host == "" && !emptyHost || !validHost(host, strings.HasPrefix(text, "[")):
		return "", fmt.Sprintf("invalid host %q in %s %q (want %s)", host, what, text, hosts)
	}
	return net.JoinHostPort(host, strconv.Itoa(number)), ""
}

// parsePort parses a decimal port number 1..65535 (digits only).
func parsePort(text string) (int, bool) {
	port, err := strconv.Atoi(text)
	if err != nil || len(text) > 5 || strings.Trim(text, "0123456789") != "" || port < 1 || port > 65535 {
		return 0, false
	}
	return port, true
}

// hostnameSyntax is RFC 1123 hostname syntax: dot-separated labels of letters,
// digits and inner hyphens, at most 63 bytes each, and an optional final dot.
var hostnameSyntax = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

// validHost accepts an empty host, an IP address (IPv6 only inside
// brackets) or a hostname of at most 253 bytes.
func validHost(host string, bracketed bool) bool {
	addr, err := netip.ParseAddr(host)
	if bracketed {
		return err == nil && addr.Is6()
	}
	return host == "" || err == nil || len(strings.TrimSuffix(host, ".")) <= 253 && hostnameSyntax.MatchString(host)
}

// otlpEndpoint is a valid otlp.endpoint taken apart.
type otlpEndpoint struct {
	// scheme is "http" or "https" for a URL, "" for host:port.
	scheme string
	// hostPort is the address to dial, with a decimal port.
	hostPort string
}

// parseOTLPEndpoint parses otlp.endpoint: host:port, or an http or https URL
// whose port defaults to 4317. It describes the problem, or returns "".
func parseOTLPEndpoint(endpoint string) (otlpEndpoint, string) {
	if !strings.Contains(endpoint, "://") {
		hostPort, problem := splitHostPort("endpoint", endpoint,
			`host:port or an http:// or https:// URL, e.g. "localhost:4317" or "https://collector.example.com:4317"`, false)
		return otlpEndpoint{hostPort: hostPort}, problem
	}
	parsed, err := url.Parse(endpoint)
	if err != nil {
		if urlErr := (*url.Error)(nil); errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return otlpEndpoint{}, fmt.Sprintf("invalid endpoint URL %q (%v)", endpoint, err)
	}
	host, bracketed := parsed.Hostname(), strings.HasPrefix(parsed.Host, "[")
	switch {
	case parsed.Scheme != "http" && parsed.Scheme != "https":
		return otlpEndpoint{}, fmt.Sprintf("unsupported scheme %q in endpoint %q (want http or https)", parsed.Scheme, endpoint)
	case parsed.User != nil:
		return otlpEndpoint{}, fmt.Sprintf("endpoint %q must not contain user information (send credentials in otlp.headers)", endpoint)
	case parsed.RawQuery != "" || parsed.ForceQuery || parsed.Fragment != "":
		return otlpEndpoint{}, fmt.Sprintf("endpoint %q must not contain a query or fragment", endpoint)
	case host == "":
		return otlpEndpoint{}, fmt.Sprintf("missing host in endpoint %q", endpoint)
	case !validHost(host, bracketed) || !bracketed && strings.Contains(host, ":"):
		return otlpEndpoint{}, fmt.Sprintf("invalid host %q in endpoint %q (want an IP address or a hostname)", host, endpoint)
	}
	number, portOK := 4317, true // the port of a URL that names none
	if port := parsed.Port(); port != "" || strings.HasSuffix(parsed.Host, ":") {
		if number, portOK = parsePort(port); !portOK {
			return otlpEndpoint{}, fmt.Sprintf("invalid port %q in endpoint %q (want an integer 1..65535)", port, endpoint)
		}
	}
	return otlpEndpoint{scheme: parsed.Scheme, hostPort: net.JoinHostPort(host, strconv.Itoa(number))}, ""
}
