package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// envOverride is one group of an env tag: the variables that set a key, by
// precedence (the first not empty wins), and the setter applying the value.
type envOverride struct {
	variables []string
	setting   setting
	set       envSetter
}

// envSetter sets the key s, whose field in c is v, from a variable's value,
// or describes why the value is bad. It replaces maps, never changes them.
type envSetter func(c *Config, v reflect.Value, s setting, value string) string

// envSetters are the setters an env tag can name; "" names setFromEnv.
var envSetters = map[string]envSetter{
	"":             setFromEnv,
	"lower":        setLowerCase,
	"port":         setPort,
	"exporters":    setExporters,
	"temporality":  setTemporality,
	"service.name": setServiceName,
}

// envOverrides are the overrides the env tags declare, in key order.
var envOverrides = listEnvOverrides()

func listEnvOverrides() []envOverride {
	var overrides []envOverride
	for _, s := range settings {
		for group := range strings.SplitSeq(s.tag.Get("env"), ";") {
			name, variables, named := strings.Cut(group, ":")
			if !named {
				name, variables = "", group
			}
			if set, ok := envSetters[name]; !ok {
				panic("config: the env tag of " + s.key + " names no setter: " + group)
			} else if variables != "" {
				overrides = append(overrides, envOverride{strings.Fields(variables), s, set})
			}
		}
	}
	return overrides
}

// EnvVariable is an environment variable that sets a key.
type EnvVariable struct {
	// Name is the variable's name.
	Name string
	// Key is the key it sets.
	Key string
}

// EnvVariables lists the variables the env tags declare, in the order of the
// keys and, for one key, of precedence.
func EnvVariables() []EnvVariable {
	var variables []EnvVariable
	for _, o := range envOverrides {
		for _, name := range o.variables {
			variables = append(variables, EnvVariable{Name: name, Key: o.setting.key})
		}
	}
	return variables
}

// ApplyEnv applies to c, over its values, the environment variables the env
// tags declare (PE_PORT, PE_LOG_LEVEL, PE_WORKERS and the standard
// OpenTelemetry ones). An empty variable counts as not set, one shadowed by
// a variable listed before it is not read; a nil getenv means os.Getenv.
//
// A bad value is an [*Error] with File "environment" and the variable as
// Key, and leaves c unchanged. Call [Config.Validate] afterwards.
func ApplyEnv(c *Config, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	// Work on a copy, so that c stays unchanged on error; the setters
	// replace maps, so the copy shares nothing with c that is written to.
	updated := *c
	fields := reflect.ValueOf(&updated).Elem()
	for _, override := range envOverrides {
		for _, variable := range override.variables {
			if value := getenv(variable); value != "" {
				if msg := override.set(&updated, fields.FieldByIndex(override.setting.index), override.setting, value); msg != "" {
					return &Error{File: "environment", Key: variable, Msg: msg}
				}
				break
			}
		}
	}
	*c = updated
	return nil
}

// setFromEnv sets a key as its type reads a variable: a string as given
// (one of the words of its oneof rule, if it has one); a boolean true or
// false in any case; an integer within its range rule; a duration as a
// positive number of milliseconds; a map as "key1=value1,key2=value2"
// merged over it (see parseEnvList).
func setFromEnv(_ *Config, v reflect.Value, s setting, value string) string {
	switch {
	case v.Type() == durationType:
		milliseconds, err := strconv.ParseInt(value, 10, 64)
		if err != nil || strings.Trim(value, "0123456789") != "" || milliseconds <= 0 || milliseconds > math.MaxInt64/int64(time.Millisecond) {
			return fmt.Sprintf("invalid value %q (want a positive integer number of milliseconds)", value)
		}
		v.SetInt(milliseconds * int64(time.Millisecond))
	case v.Kind() == reflect.Bool:
		lower := strings.ToLower(value)
		if lower != "true" && lower != "false" {
			return fmt.Sprintf("invalid boolean %q (want true or false)", value)
		}
		v.SetBool(lower == "true")
	case v.Kind() == reflect.Int:
		arg, _ := s.rule("range")
		n, err := strconv.Atoi(value)
		if lo, hi := bounds(v.Type(), arg); err != nil || int64(n) < lo || int64(n) > hi {
			return fmt.Sprintf("invalid value %q (want an integer from %s)", value, strings.Replace(arg, "..", " to ", 1))
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Map:
		_, headers := s.rule("headers")
		entries, msg := parseEnvList(value, headers)
		if msg != "" {
			return msg
		}
		v.Set(reflect.ValueOf(merged(v.Interface().(map[string]string), entries)))
	default:
		if words, ok := s.rule("oneof"); ok && oneOfProblem(value, strings.Fields(words)) != "" {
			return oneOfProblem(value, strings.Fields(words))
		}
		v.SetString(value)
	}
	return ""
}

// setLowerCase is setFromEnv for a string in any case, stored in lower
// case; a bad value is named as it was given.
func setLowerCase(c *Config, v reflect.Value, s setting, value string) string {
	if setFromEnv(c, v, s, strings.ToLower(value)) != "" {
		return setFromEnv(c, v, s, value)
	}
	return ""
}

// setPort replaces the port of a host:port and keeps its host.
func setPort(_ *Config, v reflect.Value, s setting, value string) string {
	port, ok := parsePort(value)
	if !ok {
		return fmt.Sprintf("invalid port %q (want an integer 1..65535)", value)
	}
	host, _, err := net.SplitHostPort(v.String())
	if err != nil {
		return fmt.Sprintf("cannot set the port of %s %q: %v", s.key, v.String(), err)
	}
	v.SetString(net.JoinHostPort(host, strconv.Itoa(port)))
	return ""
}

// setExporters applies OTEL_METRICS_EXPORTER: the listed exporters are
// enabled, the others disabled.
func setExporters(c *Config, _ reflect.Value, _ setting, value string) string {
	enabled := map[string]bool{}
	for entry := range strings.SplitSeq(value, ",") {
		name := strings.ToLower(strings.TrimSpace(entry))
		if name != "otlp" && name != "prometheus" && name != "none" {
			return fmt.Sprintf("invalid exporter %q (want a comma-separated list of otlp and prometheus, or none)", entry)
		}
		enabled[name] = true
	}
	if enabled["none"] && len(enabled) > 1 {
		return fmt.Sprintf("invalid value %q (none cannot be combined with other exporters)", value)
	}
	c.OTLP.Enabled, c.Prometheus.Enabled = enabled["otlp"], enabled["prometheus"]
	return ""
}

// setTemporality applies a temporality preference in any case. lowmemory
// asks for delta only for synchronous counters and histograms, and
// packet-exporter has none: it selects cumulative.
func setTemporality(_ *Config, v reflect.Value, _ setting, value string) string {
	switch strings.ToLower(value) {
	case TemporalityCumulative, "lowmemory":
		v.SetString(TemporalityCumulative)
	case TemporalityDelta:
		v.SetString(TemporalityDelta)
	default:
		return fmt.Sprintf("invalid value %q (want cumulative, delta or lowmemory)", value)
	}
	return ""
}

// setServiceName sets the attribute service.name.
func setServiceName(_ *Config, v reflect.Value, _ setting, value string) string {
	if msg := textProblem(value); msg != "" {
		return "the service name " + msg
	}
	v.Set(reflect.ValueOf(merged(v.Interface().(map[string]string), map[string]string{"service.name": value})))
	return ""
}

// parseEnvList parses a W3C-baggage-like list "key1=value1,key2=value2"
// (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES). Keys and values are
// trimmed, values then percent-decoded; keys are checked as attribute names,
// or lowercased and checked as gRPC metadata names for headers. Messages name
// entries by number and key only, so that no secret value ends up in a log.
func parseEnvList(value string, headers bool) (map[string]string, string) {
	entries := strings.Split(value, ",")
	result := make(map[string]string, len(entries))
	for index, entry := range entries {
		number := index + 1
		rawKey, rawValue, found := strings.Cut(entry, "=")
		key, nameProblem := strings.TrimSpace(rawKey), attributeNameProblem
		if headers {
			key, nameProblem = strings.ToLower(key), headerNameProblem
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(rawValue))
		_, duplicate := result[key]
		switch {
		case !found:
			return nil, fmt.Sprintf("entry %d is not key=value", number)
		case nameProblem(key) != "":
			return nil, fmt.Sprintf("entry %d: %s", number, nameProblem(key))
		case duplicate:
			return nil, fmt.Sprintf("entry %d: duplicate key %q", number, key)
		case err != nil:
			return nil, fmt.Sprintf("entry %d (key %q): invalid percent-encoding in the value", number, key)
		case textProblem(decoded) != "":
			return nil, fmt.Sprintf("entry %d (key %q): the value %s", number, key, textProblem(decoded))
		}
		result[key] = decoded
	}
	return result, ""
}

// merged returns a new map holding base overridden by override.
func merged(base, override map[string]string) map[string]string {
	result := make(map[string]string, len(base)+len(override))
	maps.Copy(result, base)
	maps.Copy(result, override)
	return result
}
