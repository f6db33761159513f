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

// Environment variables read by ApplyEnv.
const (
	envPort     = "PE_PORT"
	envLogLevel = "PE_LOG_LEVEL"
	envWorkers  = "PE_WORKERS"

	envMetricsExporter = "OTEL_METRICS_EXPORTER"
	// envOTLPMetrics and envOTLP prefix the OTLP exporter variables; the
	// metrics-specific one wins.
	envOTLPMetrics        = "OTEL_EXPORTER_OTLP_METRICS_"
	envOTLP               = "OTEL_EXPORTER_OTLP_"
	envTemporality        = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
	envExportInterval     = "OTEL_METRIC_EXPORT_INTERVAL"
	envExportTimeout      = "OTEL_METRIC_EXPORT_TIMEOUT"
	envResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
	envServiceName        = "OTEL_SERVICE_NAME"

	// envSource is the File of errors about environment variables.
	envSource = "environment"
)

// serviceNameAttribute is the resource attribute OTEL_SERVICE_NAME sets.
const serviceNameAttribute = "service.name"

// The entries of OTEL_METRICS_EXPORTER.
const (
	exporterOTLP       = "otlp"
	exporterPrometheus = "prometheus"
	exporterNone       = "none"
)

// temporalityLowMemory is the OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE
// that ApplyEnv maps to cumulative: it asks for delta only for synchronous
// counters and histograms, and packet-exporter has none.
const temporalityLowMemory = "lowmemory"

// ApplyEnv applies the environment overrides to c: PE_PORT and PE_LOG_LEVEL,
// and the standard OpenTelemetry variables (OTEL_METRICS_EXPORTER,
// OTEL_EXPORTER_OTLP_*, OTEL_METRIC_EXPORT_*, OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME); the package documentation lists them all. The
// environment wins over the values already in c. An empty variable counts as
// not set; a nil getenv means os.Getenv. c must not be nil.
//
// A bad value is reported as an [*Error] with File "environment" and the
// variable name as Key; then c is left unchanged. The caller should call
// [Config.Validate] afterwards.
func ApplyEnv(c *Config, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	// Work on a copy, so that c stays unchanged on error. The steps replace
	// maps instead of changing them, so the copy shares nothing with c that
	// is written to.
	updated := *c
	steps := []func(*Config, func(string) string) error{
		applyPrometheusEnv,
		applyLogEnv,
		applyWorkersEnv,
		applyExporterEnv,
		applyOTLPEnv,
		applyResourceEnv,
	}
	for _, step := range steps {
		if err := step(&updated, getenv); err != nil {
			return err
		}
	}
	*c = updated
	return nil
}

// applyPrometheusEnv applies PE_PORT.
func applyPrometheusEnv(c *Config, getenv func(string) string) error {
	address, err := addressWithEnvPort(c.Prometheus.ListenAddress, getenv(envPort))
	if err != nil {
		return err
	}
	c.Prometheus.ListenAddress = address
	return nil
}

// applyLogEnv applies PE_LOG_LEVEL.
func applyLogEnv(c *Config, getenv func(string) string) error {
	level, err := envLogLevelOr(c.Log.Level, getenv(envLogLevel))
	if err != nil {
		return err
	}
	c.Log.Level = level
	return nil
}

// applyWorkersEnv applies PE_WORKERS, the original tool's variable, to
// events.workers.
func applyWorkersEnv(c *Config, getenv func(string) string) error {
	value := getenv(envWorkers)
	if value == "" {
		return nil
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 || n > 64 {
		return envError(envWorkers, "invalid value %q (want an integer from 1 to 64)", value)
	}
	c.Events.Workers = n
	return nil
}

// addressWithEnvPort returns address with its port replaced by the value of
// PE_PORT, or address itself when the variable is empty.
func addressWithEnvPort(address, envValue string) (string, error) {
	if envValue == "" {
		return address, nil
	}
	port, ok := parsePort(envValue)
	if !ok {
		return "", envError(envPort, "invalid port %q (want an integer 1..65535)", envValue)
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return "", envError(envPort, "cannot set the port of prometheus.listen_address %q: %v", address, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// envLogLevelOr returns the value of PE_LOG_LEVEL, or level when the
// variable is empty.
func envLogLevelOr(level, envValue string) (string, error) {
	if envValue == "" {
		return level, nil
	}
	if msg := oneOfProblem(envValue, logLevels()); msg != "" {
		return "", envError(envLogLevel, "%s", msg)
	}
	return envValue, nil
}

// applyExporterEnv applies OTEL_METRICS_EXPORTER: the listed exporters are
// enabled, the others disabled.
func applyExporterEnv(c *Config, getenv func(string) string) error {
	value := getenv(envMetricsExporter)
	if value == "" {
		return nil
	}
	enabled := map[string]bool{}
	for entry := range strings.SplitSeq(value, ",") {
		name := strings.ToLower(strings.TrimSpace(entry))
		switch name {
		case exporterOTLP, exporterPrometheus, exporterNone:
			enabled[name] = true
		default:
			return envError(envMetricsExporter, "invalid exporter %q (want a comma-separated list of otlp and prometheus, or none)", entry)
		}
	}
	if enabled[exporterNone] && len(enabled) > 1 {
		return envError(envMetricsExporter, "invalid value %q (none cannot be combined with other exporters)", value)
	}
	c.OTLP.Enabled = enabled[exporterOTLP]
	c.Prometheus.Enabled = enabled[exporterPrometheus]
	return nil
}

// applyOTLPEnv applies the OTEL_EXPORTER_OTLP_* and OTEL_METRIC_EXPORT_*
// variables to the otlp section.
func applyOTLPEnv(c *Config, getenv func(string) string) error {
	o := &c.OTLP
	if _, value := firstSet(getenv, otlpVariables("ENDPOINT")...); value != "" {
		o.Endpoint = value
	}
	if name, value := firstSet(getenv, otlpVariables("INSECURE")...); value != "" {
		insecure, err := parseEnvBool(name, value)
		if err != nil {
			return err
		}
		o.Insecure = insecure
	}
	if _, value := firstSet(getenv, otlpVariables("CERTIFICATE")...); value != "" {
		o.CAFile = value
	}
	if _, value := firstSet(getenv, otlpVariables("CLIENT_CERTIFICATE")...); value != "" {
		o.CertFile = value
	}
	if _, value := firstSet(getenv, otlpVariables("CLIENT_KEY")...); value != "" {
		o.KeyFile = value
	}
	if name, value := firstSet(getenv, otlpVariables("HEADERS")...); value != "" {
		headers, err := parseEnvList(name, value, true)
		if err != nil {
			return err
		}
		o.Headers = merged(o.Headers, headers)
	}
	if name, value := firstSet(getenv, otlpVariables("COMPRESSION")...); value != "" {
		compression := strings.ToLower(value)
		if !slices.Contains(otlpCompressions(), compression) {
			return envError(name, "invalid value %q (want %s)", value, listAlternatives(otlpCompressions()))
		}
		o.Compression = compression
	}
	timeoutVariables := []string{envOTLPMetrics + "TIMEOUT", envExportTimeout, envOTLP + "TIMEOUT"}
	if name, value := firstSet(getenv, timeoutVariables...); value != "" {
		timeout, err := parseEnvMilliseconds(name, value)
		if err != nil {
			return err
		}
		o.Timeout = timeout
	}
	if value := getenv(envExportInterval); value != "" {
		interval, err := parseEnvMilliseconds(envExportInterval, value)
		if err != nil {
			return err
		}
		o.Interval = interval
	}
	if value := getenv(envTemporality); value != "" {
		temporality, err := parseEnvTemporality(value)
		if err != nil {
			return err
		}
		o.Temporality = temporality
	}
	return nil
}

// applyResourceEnv applies OTEL_RESOURCE_ATTRIBUTES and then
// OTEL_SERVICE_NAME to resource.attributes.
func applyResourceEnv(c *Config, getenv func(string) string) error {
	if value := getenv(envResourceAttributes); value != "" {
		attributes, err := parseEnvList(envResourceAttributes, value, false)
		if err != nil {
			return err
		}
		c.Resource.Attributes = merged(c.Resource.Attributes, attributes)
	}
	if value := getenv(envServiceName); value != "" {
		if msg := textProblem(value); msg != "" {
			return envError(envServiceName, "the service name %s", msg)
		}
		c.Resource.Attributes = merged(c.Resource.Attributes, map[string]string{serviceNameAttribute: value})
	}
	return nil
}

// otlpVariables returns the names of the metrics-specific and the generic
// OTLP exporter variable ending in suffix, in order of precedence.
func otlpVariables(suffix string) []string {
	return []string{envOTLPMetrics + suffix, envOTLP + suffix}
}

// firstSet returns the first of the variables that is not empty, with its
// value, or two empty strings.
func firstSet(getenv func(string) string, variables ...string) (name, value string) {
	for _, variable := range variables {
		if value := getenv(variable); value != "" {
			return variable, value
		}
	}
	return "", ""
}

// merged returns a new map holding base overridden by override.
func merged(base, override map[string]string) map[string]string {
	result := make(map[string]string, len(base)+len(override))
	maps.Copy(result, base)
	maps.Copy(result, override)
	return result
}

// parseEnvBool accepts true and false in any case.
func parseEnvBool(variable, value string) (bool, error) {
	switch strings.ToLower(value) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, envError(variable, "invalid boolean %q (want true or false)", value)
}

// maxEnvMilliseconds is the largest number of milliseconds a time.Duration
// holds.
const maxEnvMilliseconds = math.MaxInt64 / int64(time.Millisecond)

// parseEnvMilliseconds parses a positive base-10 number of milliseconds.
func parseEnvMilliseconds(variable, value string) (time.Duration, error) {
	milliseconds, err := strconv.ParseInt(value, 10, 64)
	if err != nil || strings.Trim(value, "0123456789") != "" || milliseconds <= 0 || milliseconds > maxEnvMilliseconds {
		return 0, envError(variable, "invalid value %q (want a positive integer number of milliseconds)", value)
	}
	return time.Duration(milliseconds) * time.Millisecond, nil
}

// parseEnvTemporality maps a temporality preference to otlp.temporality.
func parseEnvTemporality(value string) (string, error) {
	switch strings.ToLower(value) {
	case TemporalityCumulative, temporalityLowMemory:
		return TemporalityCumulative, nil
	case TemporalityDelta:
		return TemporalityDelta, nil
	}
	return "", envError(envTemporality, "invalid value %q (want cumulative, delta or lowmemory)", value)
}

// parseEnvList parses a W3C-baggage-like list "key1=value1,key2=value2" as
// used by OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES. Keys and
// values are trimmed; values are then percent-decoded. For headers, keys are
// lowercased and checked as gRPC metadata names; otherwise they are checked
// as attribute names. Messages name entries by number and key only, so that
// no secret header value ends up in a log.
func parseEnvList(variable, value string, headers bool) (map[string]string, error) {
	entries := strings.Split(value, ",")
	result := make(map[string]string, len(entries))
	for index, entry := range entries {
		number := index + 1
		rawKey, rawValue, found := strings.Cut(entry, "=")
		if !found {
			return nil, envError(variable, "entry %d is not key=value", number)
		}
		key := strings.TrimSpace(rawKey)
		keyProblem := attributeNameProblem(key)
		if headers {
			key = strings.ToLower(key)
			keyProblem = headerNameProblem(key)
		}
		if keyProblem != "" {
			return nil, envError(variable, "entry %d: %s", number, keyProblem)
		}
		if _, duplicate := result[key]; duplicate {
			return nil, envError(variable, "entry %d: duplicate key %q", number, key)
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(rawValue))
		if err != nil {
			return nil, envError(variable, "entry %d (key %q): invalid percent-encoding in the value", number, key)
		}
		if msg := textProblem(decoded); msg != "" {
			return nil, envError(variable, "entry %d (key %q): the value %s", number, key, msg)
		}
		result[key] = decoded
	}
	return result, nil
}

func envError(variable, format string, args ...any) *Error {
	return &Error{File: envSource, Key: variable, Msg: fmt.Sprintf(format, args...)}
}
