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
// [Load] reads a YAML file, [LoadDefault] the embedded [DefaultYAML] and
// [Parse] bytes in memory. All three overlay the document on [Default]: an
// omitted key keeps its default, a given one replaces it (a list, the whole
// default list). An empty document, or one of comments only, yields the
// defaults; but [Load] refuses a file that is empty or only white space,
// more likely a lost configuration than a wish for the defaults ("{}" asks
// for them).
//
// A null value (nothing, "~" or "null") keeps a section's defaults, empties
// a list or a map, and is an error for a scalar setting.
//
// # Strictness
//
// Parsing is strict. Every problem is an [*Error] with the file name, line,
// column and dotted key path (list items as interfaces.include[1]); [Parse]
// reports all it finds as [Errors]:
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
// syntax errors (a tab in the indentation with a hint and its column), more
// than one YAML document, a top level that is not a mapping, and nesting
// deeper than 32 levels. YAML anchors and aliases are resolved (with a limit
// on how much they may expand); merge keys ("<<") are not supported.
//
// # Environment overrides
//
// [ApplyEnv] applies the variables the env tags name on top of a loaded
// configuration: the environment wins over the file. The README's table
// lists them; the setters in env.go say how each value is read.
package config
