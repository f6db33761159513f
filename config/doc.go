// Package config defines the packet-exporter configuration: the YAML schema,
// the built-in defaults, strict parsing with precise error locations,
// validation and environment overrides.
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
// # OTLP push
//
// The otlp section configures pushing the metrics with OTLP over gRPC (see
// [OTLP]); the resource section adds OpenTelemetry resource attributes (see
// [Resource]). [Config.Validate] checks otlp.endpoint, the headers, the
// durations and the TLS settings even when otlp.enabled is false, but opens
// the CA, certificate and key files only when it is true. [OTLP.Target]
// turns a valid endpoint into the address to dial and tells whether the
// connection is plaintext.
//
// # HTTP endpoint security
//
// prometheus.web_config_file names a Prometheus exporter-toolkit web
// configuration file (TLS, client certificates, basic authentication) that
// protects every HTTP endpoint. [Config.Validate] checks it whenever it is
// set: the file must be a regular file of at most 1 MiB, the toolkit must
// accept it (bcrypt hashes, TLS settings, loadable certificate and key), and
// the certificate, key and CA files it names must be regular files of at
// most 4 MiB. debug.pprof (default false) serves the Go profiler under
// /debug/pprof/; nothing else serves it.
//
// # Environment overrides
//
// [ApplyEnv] applies these environment variables on top of a loaded
// configuration: environment variables override the file. An empty variable
// counts as not set. The caller should call [Config.Validate] afterwards.
//
//   - PE_PORT: replaces the port of prometheus.listen_address and keeps its
//     host (":9743" becomes ":8080", "127.0.0.1:9743" becomes
//     "127.0.0.1:8080"). It must be an integer from 1 to 65535.
//   - PE_LOG_LEVEL: replaces log.level; one of debug, info, warn or error.
//   - PE_WORKERS: replaces events.workers; an integer from 1 to 64.
//
// The standard OpenTelemetry variables are read as well. Where both a
// metrics-specific variable OTEL_EXPORTER_OTLP_METRICS_X and the generic
// OTEL_EXPORTER_OTLP_X are set, the metrics-specific one wins and the
// generic one is ignored. Names of exporters, booleans, compressions and
// temporalities are case-insensitive.
//
//   - OTEL_METRICS_EXPORTER: a comma-separated list of otlp and prometheus,
//     or none. When set, it decides both otlp.enabled and
//     prometheus.enabled: "otlp" enables OTLP and disables Prometheus,
//     "otlp,prometheus" enables both, "none" disables both. Other entries,
//     empty entries and none combined with another exporter are errors.
//   - OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT:
//     replace otlp.endpoint, as given ([Config.Validate] checks it).
//   - OTEL_EXPORTER_OTLP_METRICS_INSECURE, OTEL_EXPORTER_OTLP_INSECURE:
//     replace otlp.insecure; true or false.
//   - OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE, OTEL_EXPORTER_OTLP_CERTIFICATE:
//     replace otlp.ca_file.
//   - OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE,
//     OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: replace otlp.cert_file.
//   - OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY, OTEL_EXPORTER_OTLP_CLIENT_KEY:
//     replace otlp.key_file.
//   - OTEL_EXPORTER_OTLP_METRICS_HEADERS, OTEL_EXPORTER_OTLP_HEADERS:
//     "key1=value1,key2=value2", merged over otlp.headers (a key in the
//     variable replaces the same key from the file). Keys are trimmed and
//     lowercased and must be valid header names; values are trimmed and then
//     percent-decoded ("Bearer%20token"). An entry without "=", a duplicate
//     key, a bad percent-encoding or a control character is an error.
//   - OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION:
//     replace otlp.compression; gzip or none.
//   - OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, OTEL_METRIC_EXPORT_TIMEOUT,
//     OTEL_EXPORTER_OTLP_TIMEOUT: replace otlp.timeout; a positive integer
//     number of milliseconds. The first one set, in this order, wins: the
//     metrics-specific variables come before the one for all signals.
//   - OTEL_METRIC_EXPORT_INTERVAL: replaces otlp.interval; a positive
//     integer number of milliseconds.
//   - OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: sets
//     otlp.temporality. cumulative and delta select themselves; lowmemory
//     selects cumulative, because the specification's low-memory preference
//     asks for delta only for synchronous counters and histograms, while
//     every packet-exporter instrument is an asynchronous counter or gauge,
//     which it exports as cumulative.
//   - OTEL_RESOURCE_ATTRIBUTES: "key1=value1,key2=value2", merged over
//     resource.attributes (a key in the variable replaces the same key from
//     the file). Keys and values are trimmed; values are then
//     percent-decoded. Malformed entries are errors as for the headers.
//   - OTEL_SERVICE_NAME: sets resource.attributes["service.name"]; it wins
//     over a service.name in OTEL_RESOURCE_ATTRIBUTES.
//
// Problems with these variables are reported as an [*Error] whose File is
// "environment" and whose Key is the variable name; ApplyEnv then leaves the
// configuration unchanged. A variable that is shadowed by one with higher
// precedence is not read at all.
package config
