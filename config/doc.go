// Package config defines the packet-exporter configuration: the YAML schema,
// the built-in defaults, strict parsing with precise error locations,
// validation and environment overrides.
//
// Each key is declared once, as a field of its section's struct with tags
// for its name, default, checks and environment variables (see [Config]);
// the defaults, the checks and the overrides below follow from them.
//
// # Loading
//
// [Load] reads a YAML file, [LoadDefault] uses the embedded default file
// ([DefaultYAML]) and [Parse] works on bytes already in memory. All three
// start from [Default] and overlay the document on top of it: a key that is
// omitted keeps its default, a key that is given replaces it (a list given
// replaces the whole default list). An empty document, or one holding only
// comments, yields the defaults; but [Load] refuses a file that is empty or
// holds only white space, which is more likely a lost configuration than a
// wish for the defaults ("{}" asks for them explicitly).
//
// A key whose value is null (written as nothing, "~" or "null") is treated
// as follows: a section (mapping) keeps its defaults, a list or a map becomes
// empty, and a scalar setting is an error.
//
// # Strictness
//
// Parsing is strict. Every problem is reported as an [*Error] carrying the
// file name, line, column and dotted key path (list items are written as
// interfaces.include[1]), and [Parse] reports all problems it finds as
// [Errors]:
//
//   - unknown keys, with a suggestion when a known key is spelled similarly;
//   - duplicate keys;
//   - a mapping, list or scalar where another kind of value is expected;
//   - scalars that do not parse as the expected type: booleans are true or
//     false only, integers are base-10, durations use Go syntax ("30s",
//     "1h30m");
//   - values rejected by [Config.Validate].
//
// Documents that cannot be read at all are rejected before the schema is
// looked at: files over 1 MiB, invalid UTF-8 or control characters, YAML
// syntax errors, more than one YAML document, a top level that is not a
// mapping, and nesting deeper than 32 levels. YAML anchors and aliases are
// resolved (with a limit on how much they may expand); merge keys ("<<") are
// not supported.
//
// # OTLP push and HTTP endpoint security
//
// [Config.Validate] checks the otlp section even when otlp.enabled is false,
// but opens the CA, certificate and key files only when it is true;
// [OTLP.Target] gives the address to dial. It checks
// prometheus.web_config_file, an exporter-toolkit web configuration file
// protecting every HTTP endpoint, whenever it is set: a regular file of at
// most 1 MiB that the toolkit accepts, naming regular certificate, key and
// CA files of at most 4 MiB. debug.pprof serves the Go profiler under
// /debug/pprof/; nothing else serves it.
//
// # Environment overrides
//
// [ApplyEnv] applies the variables the env tags name on top of a loaded
// configuration: the environment wins over the file. An empty variable
// counts as not set, and one shadowed by a variable listed before it is not
// read at all. A bad value is reported as an [*Error] whose File is
// "environment" and whose Key is the variable name, and the configuration
// is left unchanged; the caller should call [Config.Validate] afterwards.
//
//   - PE_PORT replaces the port of prometheus.listen_address (1..65535) and
//     keeps its host; PE_LOG_LEVEL replaces log.level, PE_WORKERS
//     events.workers (1..64).
//   - OTEL_METRICS_EXPORTER, a comma-separated list of otlp and prometheus,
//     or none, decides both otlp.enabled and prometheus.enabled.
//   - The metrics-specific variable wins over the generic one:
//     OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT
//     (otlp.endpoint, as given); OTEL_EXPORTER_OTLP_METRICS_INSECURE,
//     OTEL_EXPORTER_OTLP_INSECURE; OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
//     OTEL_EXPORTER_OTLP_CERTIFICATE (otlp.ca_file);
//     OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE,
//     OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE (otlp.cert_file);
//     OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY, OTEL_EXPORTER_OTLP_CLIENT_KEY
//     (otlp.key_file); OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
//     OTEL_EXPORTER_OTLP_COMPRESSION; OTEL_EXPORTER_OTLP_METRICS_HEADERS,
//     OTEL_EXPORTER_OTLP_HEADERS (merged over otlp.headers).
//   - otlp.timeout: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, then
//     OTEL_METRIC_EXPORT_TIMEOUT, then OTEL_EXPORTER_OTLP_TIMEOUT;
//     otlp.interval: OTEL_METRIC_EXPORT_INTERVAL; positive integer numbers
//     of milliseconds.
//   - OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: cumulative, delta,
//     or lowmemory, which selects cumulative (the specification's low-memory
//     preference asks for delta only for synchronous counters and
//     histograms, and every instrument here is an asynchronous counter or
//     gauge).
//   - OTEL_RESOURCE_ATTRIBUTES is merged over resource.attributes;
//     OTEL_SERVICE_NAME then sets its service.name.
//
// Names of exporters, booleans, compressions and temporalities are
// case-insensitive. The lists of headers and attributes are
// "key1=value1,key2=value2": keys and values are trimmed, values
// percent-decoded, header names lowercased. An entry without "=", a
// duplicate key, a bad percent-encoding or a control character is an
// error; messages name entries by number and key, never by value.
package config
