package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// envOverride is one row of the environment overrides: the variables that
// set a value, in order of precedence (the first one that is not empty wins
// and the others are not read), and how the value applies. apply replaces
// maps instead of changing them.
type envOverride struct {
	variables []string
	apply     func(c *Config, variable, value string) error
}

// envOverrides are the environment overrides, in the order ApplyEnv applies
// them; the package documentation describes each.
var envOverrides = []envOverride{
	{[]string{"PE_PORT"}, func(c *Config, variable, value string) error {
		port, ok := parsePort(value)
		if !ok {
			return envError(variable, "invalid port %q (want an integer 1..65535)", value)
		}
		host, _, err := net.SplitHostPort(c.Prometheus.ListenAddress)
		if err != nil {
			return envError(variable, "cannot set the port of prometheus.listen_address %q: %v", c.Prometheus.ListenAddress, err)
		}
		c.Prometheus.ListenAddress = net.JoinHostPort(host, strconv.Itoa(port))
		return nil
	}},
	{[]string{"PE_LOG_LEVEL"}, func(c *Config, variable, value string) error {
		if msg := oneOfProblem(value, logLevels); msg != "" {
			return envError(variable, "%s", msg)
		}
		c.Log.Level = value
		return nil
	}},
	{[]string{"PE_WORKERS"}, func(c *Config, variable, value string) error {
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > 64 {
			return envError(variable, "invalid value %q (want an integer from 1 to 64)", value)
		}
		c.Events.Workers = n
		return nil
	}},
	{[]string{"OTEL_METRICS_EXPORTER"}, applyExporters},
	{otlpVariables("ENDPOINT"), func(c *Config, _, value string) error { c.OTLP.Endpoint = value; return nil }},
	{otlpVariables("INSECURE"), func(c *Config, variable, value string) error {
		switch strings.ToLower(value) {
		case "true":
			c.OTLP.Insecure = true
		case "false":
			c.OTLP.Insecure = false
		default:
			return envError(variable, "invalid boolean %q (want true or false)", value)
		}
		return nil
	}},
	{otlpVariables("CERTIFICATE"), func(c *Config, _, value string) error { c.OTLP.CAFile = value; return nil }},
	{otlpVariables("CLIENT_CERTIFICATE"), func(c *Config, _, value string) error { c.OTLP.CertFile = value; return nil }},
	{otlpVariables("CLIENT_KEY"), func(c *Config, _, value string) error { c.OTLP.KeyFile = value; return nil }},
	{otlpVariables("HEADERS"), func(c *Config, variable, value string) error {
		return mergeEnvList(&c.OTLP.Headers, variable, value, true)
	}},
	{otlpVariables("COMPRESSION"), func(c *Config, variable, value string) error {
		if !slices.Contains(otlpCompressions, strings.ToLower(value)) {
			return envError(variable, "invalid value %q (want %s)", value, listAlternatives(otlpCompressions))
		}
		c.OTLP.Compression = strings.ToLower(value)
		return nil
	}},
	{[]string{"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_METRIC_EXPORT_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"}, func(c *Config, variable, value string) error {
		return setMilliseconds(&c.OTLP.Timeout, variable, value)
	}},
	{[]string{"OTEL_METRIC_EXPORT_INTERVAL"}, func(c *Config, variable, value string) error {
		return setMilliseconds(&c.OTLP.Interval, variable, value)
	}},
	{[]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"}, func(c *Config, variable, value string) error {
		// lowmemory asks for delta only for synchronous counters and
		// histograms, and packet-exporter has none.
		switch strings.ToLower(value) {
		case TemporalityCumulative, "lowmemory":
			c.OTLP.Temporality = TemporalityCumulative
		case TemporalityDelta:
			c.OTLP.Temporality = TemporalityDelta
		default:
			return envError(variable, "invalid value %q (want cumulative, delta or lowmemory)", value)
		}
		return nil
	}},
	{[]string{"OTEL_RESOURCE_ATTRIBUTES"}, func(c *Config, variable, value string) error {
		return mergeEnvList(&c.Resource.Attributes, variable, value, false)
	}},
	{[]string{"OTEL_SERVICE_NAME"}, func(c *Config, variable, value string) error {
		if msg := textProblem(value); msg != "" {
			return envError(variable, "the service name %s", msg)
		}
		c.Resource.Attributes = merged(c.Resource.Attributes, map[string]string{"service.name": value})
		return nil
	}},
}

// ApplyEnv applies the environment overrides to c: PE_PORT, PE_LOG_LEVEL
// and PE_WORKERS, and the standard OpenTelemetry variables
// (OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_*, OTEL_METRIC_EXPORT_*,
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME); the package documentation
// lists them all. The environment wins over the values already in c. An
// empty variable counts as not set; a nil getenv means os.Getenv. c must not
// be nil.
//
// A bad value is reported as an [*Error] with File "environment" and the
// variable name as Key; then c is left unchanged. The caller should call
// [Config.Validate] afterwards.
func ApplyEnv(c *Config, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	// Work on a copy, so that c stays unchanged on error; the overrides
	// replace maps, so the copy shares nothing with c that is written to.
	updated := *c
	for _, override := range envOverrides {
		for _, variable := range override.variables {
			if value := getenv(variable); value != "" {
				if err := override.apply(&updated, variable, value); err != nil {
					return err
				}
				break
			}
		}
	}
	*c = updated
	return nil
}

// otlpVariables returns the names of the metrics-specific and the generic
// OTLP exporter variable ending in suffix, in order of precedence.
func otlpVariables(suffix string) []string {
	return []string{"OTEL_EXPORTER_OTLP_METRICS_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix}
}

// applyExporters applies OTEL_METRICS_EXPORTER: the listed exporters are
// enabled, the others disabled.
func applyExporters(c *Config, variable, value string) error {
	enabled := map[string]bool{}
	for entry := range strings.SplitSeq(value, ",") {
		name := strings.ToLower(strings.TrimSpace(entry))
		if name != "otlp" && name != "prometheus" && name != "none" {
			return envError(variable, "invalid exporter %q (want a comma-separated list of otlp and prometheus, or none)", entry)
		}
		enabled[name] = true
	}
	if enabled["none"] && len(enabled) > 1 {
		return envError(variable, "invalid value %q (none cannot be combined with other exporters)", value)
	}
	c.OTLP.Enabled, c.Prometheus.Enabled = enabled["otlp"], enabled["prometheus"]
	return nil
}

// maxEnvMilliseconds is the largest number of milliseconds a time.Duration
// holds.
const maxEnvMilliseconds = math.MaxInt64 / int64(time.Millisecond)

// setMilliseconds sets *target to a positive base-10 number of milliseconds.
func setMilliseconds(target *time.Duration, variable, value string) error {
	milliseconds, err := strconv.ParseInt(value, 10, 64)
	if err != nil || strings.Trim(value, "0123456789") != "" || milliseconds <= 0 || milliseconds > maxEnvMilliseconds {
		return envError(variable, "invalid value %q (want a positive integer number of milliseconds)", value)
	}
	*target = time.Duration(milliseconds) * time.Millisecond
	return nil
}

// mergeEnvList parses a W3C-baggage-like list "key1=value1,key2=value2" as
// used by OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES and merges
// it over *target into a new map. Keys and values are trimmed; values are
// then percent-decoded. For headers, keys are lowercased and checked as gRPC
// metadata names; otherwise they are checked as attribute names. Messages
// name entries by number and key only, so that no secret header value ends
// up in a log.
func mergeEnvList(target *map[string]string, variable, value string, headers bool) error {
	entries := strings.Split(value, ",")
	result := make(map[string]string, len(entries))
	for index, entry := range entries {
		number := index + 1
		rawKey, rawValue, found := strings.Cut(entry, "=")
		if !found {
			return envError(variable, "entry %d is not key=value", number)
		}
		key := strings.TrimSpace(rawKey)
		keyProblem := attributeNameProblem(key)
		if headers {
			key = strings.ToLower(key)
			keyProblem = headerNameProblem(key)
		}
		if keyProblem != "" {
			return envError(variable, "entry %d: %s", number, keyProblem)
		}
		if _, duplicate := result[key]; duplicate {
			return envError(variable, "entry %d: duplicate key %q", number, key)
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(rawValue))
		if err != nil {
			return envError(variable, "entry %d (key %q): invalid percent-encoding in the value", number, key)
		}
		if msg := textProblem(decoded); msg != "" {
			return envError(variable, "entry %d (key %q): the value %s", number, key, msg)
		}
		result[key] = decoded
	}
	*target = merged(*target, result)
	return nil
}

// merged returns a new map holding base overridden by override.
func merged(base, override map[string]string) map[string]string {
	result := make(map[string]string, len(base)+len(override))
	maps.Copy(result, base)
	maps.Copy(result, override)
	return result
}

// envError reports a bad value of an environment variable.
func envError(variable, format string, args ...any) *Error {
	return &Error{File: "environment", Key: variable, Msg: fmt.Sprintf(format, args...)}
}
