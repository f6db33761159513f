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
