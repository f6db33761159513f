package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hbollon/go-edlib"
	"go.yaml.in/yaml/v3"
)

const (
	// maxFileSize is the largest configuration or web configuration file
	// accepted, in bytes.
	maxFileSize = 1 << 20
	// maxDepth is the deepest nesting of mappings and lists accepted.
	maxDepth = 32
)

// Parse starts from [Default], overlays the YAML document in data and
// validates the result. name is used in error messages (a file path, or
// "embedded default"). On failure the error is [Errors] listing every problem
// found, and the returned Config is the zero value.
func Parse(name string, data []byte) (Config, error) {
	cfg, _, err := parseWithPositions(name, data)
	return cfg, err
}

// parseWithPositions is Parse that also returns where each key path was
// found in the document.
func parseWithPositions(name string, data []byte) (Config, map[string]position, error) {
	root, problem := readDocument(data)
	return decodeRoot(name, root, problem)
}

// Decode is Parse for a configuration already read into Go values (maps
// with string keys, slices and scalars), such as the one an OpenTelemetry
// Collector hands its receiver: the same defaults, checks and messages,
// without positions. A nil or empty map yields the defaults.
func Decode(name string, document map[string]any) (Config, error) {
	var root yaml.Node
	if err := root.Encode(document); err != nil {
		return Config{}, Errors{{File: name, Msg: fmt.Sprintf("encode configuration: %v", err)}}
	}
	cfg, _, err := decodeRoot(name, &root, checkDepth(&root, "", 1))
	return cfg, err
}

// decodeRoot overlays the top-level mapping root (nil for none) on the
// defaults and validates the result, unless problem was found in the bytes.
func decodeRoot(name string, root *yaml.Node, problem *Error) (Config, map[string]position, error) {
	if problem != nil {
		problem.File = name
		return Config{}, nil, Errors{problem}
	}
	cfg := Default()
	dec := &decoder{file: name, positions: map[string]position{}, failed: map[string]bool{}}
	if root != nil {
		dec.decode(root, "", reflect.ValueOf(&cfg).Elem())
	}
	if err := append(dec.errs, dec.locate(cfg.problems())...).asError(); err != nil {
		return Config{}, nil, err
	}
	return cfg, dec.positions, nil
}

// readDocument checks data and parses it into the top-level mapping node,
// nil for an empty document; its *Error lacks the file name.
func readDocument(data []byte) (*yaml.Node, *Error) {
	if len(data) > maxFileSize {
		return nil, &Error{Msg: fmt.Sprintf("file is larger than the limit of %d bytes (1 MiB)", maxFileSize)}
	}
	if problem := checkCharacters(data); problem != nil {
		return nil, problem
	}
	root, problem := decodeSingleDocument(data)
	if root == nil || problem != nil || isNull(root) {
		return nil, problem
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{Line: root.Line, Column: root.Column,
			Msg: "the top level must be a mapping of sections, got " + describeNode(root)}
	}
	if problem := checkDepth(root, "", 1); problem != nil {
		return nil, problem
	}
	return root, nil
}

// checkCharacters locates invalid UTF-8 and characters YAML does not allow;
// input starting with a UTF-16 byte order mark is left to the YAML parser.
func checkCharacters(data []byte) *Error {
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return nil
	}
	line, column := 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size == 1:
			return &Error{Line: line, Column: column, Msg: fmt.Sprintf("invalid UTF-8 byte 0x%02x", data[0])}
		case !isAllowedInYAML(r):
			return &Error{Line: line, Column: column, Msg: fmt.Sprintf("character %U is not allowed", r)}
		case r == '\n':
			line, column = line+1, 1
		default:
			column++
		}
		data = data[size:]
	}
	return nil
}

// isAllowedInYAML reports whether r is in YAML's printable character set.
func isAllowedInYAML(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r == 0x85 || r >= 0x20 && r < 0x7F ||
		r >= 0xA0 && r <= 0xFFFD && (r < 0xD800 || r > 0xDFFF) || r >= 0x10000
}

// decodeSingleDocument parses data into its document's root node, nil for
// an empty stream; a second document, or a panic in the library, is an error.
func decodeSingleDocument(data []byte) (root *yaml.Node, problem *Error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			root, problem = nil, syntaxError(fmt.Errorf("yaml: parser failure: %v", recovered), data)
		}
	}()
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if err := decoder.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(err, data)
	}
	switch err := decoder.Decode(&second); {
	case err == nil:
		return nil, &Error{Line: second.Line, Column: second.Column,
			Msg: "found a second YAML document; only one document is allowed"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err, data)
	case first.Kind != yaml.DocumentNode || len(first.Content) != 1:
		return nil, syntaxError(errors.New("yaml: unexpected document structure"), data)
	}
	return first.Content[0], nil
}

var yamlLinePrefix = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// syntaxError converts a YAML library error ("yaml: line 3: ...") into an
// *Error with the line, if given. A tab in that line's indentation gets a
// hint instead, with its column: YAML indents with spaces only.
func syntaxError(err error, data []byte) *Error {
	text, problem := err.Error(), &Error{}
	if match := yamlLinePrefix.FindStringSubmatch(text); match != nil {
		problem.Line, _ = strconv.Atoi(match[1])
		text = text[len(match[0]):]
	}
	if lines := bytes.Split(data, []byte("\n")); text == "found character that cannot start any token" &&
		problem.Line > 0 && problem.Line <= len(lines) {
		line := lines[problem.Line-1]
		indentation := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
		if tab := bytes.IndexByte(indentation, '\t'); tab >= 0 {
			problem.Column, text = tab+1, "a tab in the indentation; tabs cannot indent YAML: use spaces"
		}
	}
	problem.Msg = "invalid YAML: " + text
	return problem
}

// checkDepth rejects mappings and lists nested deeper than maxDepth. Aliases
// are not followed; the decoder bounds them separately.
func checkDepth(n *yaml.Node, key string, depth int) *Error {
	if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode {
		return nil
	}
	if depth > maxDepth {
		return &Error{Line: n.Line, Column: n.Column, Key: key,
			Msg: fmt.Sprintf("nesting exceeds the maximum depth of %d", maxDepth)}
	}
	for i, child := range n.Content {
		childKey := indexPath(key, i)
		if n.Kind == yaml.MappingNode {
			childKey = fieldPath(key, n.Content[i-i%2].Value)
		}
		if problem := checkDepth(child, childKey, depth+1); problem != nil {
			return problem
		}
	}
	return nil
}

// position is where a value was found in the document.
type position struct{ line, column int }

// decoder overlays the node tree the YAML library parsed onto a Config,
// guided by the `yaml` struct tags, and collects every problem with its
// position instead of stopping at the first. The library's own Node.Decode
// is not used: it stops at the first problem without a key path, accepts
// null for scalars, rejects quoted booleans and integers, reads 010 as
// octal and checks mapping keys for duplicates in quadratic time.
type decoder struct {
	file string
	errs Errors
	// positions maps each key path that was set to the position of its value.
	positions map[string]position
	// failed holds the key paths whose value could not be decoded.
	failed map[string]bool
}

var durationType = reflect.TypeFor[time.Duration]()

// scalarType is how a scalar setting of one Go type is read.
type scalarType struct {
	// want names the type in messages.
	want string
	// parse returns the value of text, or a description of the problem.
	parse func(text string) (any, string)
}

// scalarTypes are the scalar types a setting can have; a test makes sure
// that Config is made only of structs, slices and string-keyed maps of them.
var scalarTypes = map[reflect.Type]scalarType{
	reflect.TypeFor[string](): {"a string", func(text string) (any, string) { return text, "" }},
	reflect.TypeFor[bool](): {"a boolean", func(text string) (any, string) {
		if text != "true" && text != "false" {
			return nil, fmt.Sprintf("invalid boolean %q (want true or false)", text)
		}
		return text == "true", ""
	}},
	reflect.TypeFor[int](): {"an integer", func(text string) (any, string) {
		number, err := strconv.ParseInt(text, 10, 0)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return nil, fmt.Sprintf("invalid integer %q (out of range)", text)
		case err != nil:
			return nil, fmt.Sprintf("invalid integer %q (want a base-10 integer)", text)
		}
		return int(number), ""
	}},
	durationType: {"a duration", func(text string) (any, string) {
		duration, err := time.ParseDuration(text)
		if err != nil {
			return nil, fmt.Sprintf("invalid duration %q (want a number with a unit, e.g. 500ms, 30s, 1h30m)", text)
		}
		return duration, ""
	}},
}

// decode stores the value of node n, found at key path key, into v. A
// mapping overlays a struct: given keys replace fields, omitted keys keep
// them, null keeps everything; so does a map of structs (metrics), whose keys
// are the names it holds by default. A list or mapping replaces another
// slice or map, null empties it. Aliases are followed; the Config's types
// nest only a few levels, so alias expansion cannot make the walk blow up.
func (d *decoder) decode(n *yaml.Node, key string, v reflect.Value) {
	d.positions[key] = position{n.Line, n.Column}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch v.Kind() {
	case reflect.Struct:
		if isNull(n) || !d.expect(n, key, yaml.MappingNode, "a mapping") {
			return
		}
		fields := yamlFields(v.Type())
		d.forEachEntry(n, key, func(name string, keyNode, valueNode *yaml.Node) {
			path := fieldPath(key, name)
			if index, known := fields.index[name]; known {
				d.decode(valueNode, path, v.Field(index))
			} else {
				d.unknownKey(keyNode, path, name, fields.names)
			}
		})
	case reflect.Slice:
		if isNull(n) {
			v.SetZero()
		} else if d.expect(n, key, yaml.SequenceNode, "a list") {
			items := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
			for i, item := range n.Content {
				d.decode(item, indexPath(key, i), items.Index(i))
			}
			v.Set(items)
		}
	case reflect.Map:
		sections := v.Type().Elem().Kind() == reflect.Struct
		if isNull(n) && !sections {
			v.SetZero()
		}
		if isNull(n) || !d.expect(n, key, yaml.MappingNode, "a mapping") {
			return
		}
		entries := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		var names []string
		if sections {
			for iter := v.MapRange(); iter.Next(); {
				entries.SetMapIndex(iter.Key(), iter.Value())
				names = append(names, iter.Key().String())
			}
		}
		d.forEachEntry(n, key, func(name string, keyNode, valueNode *yaml.Node) {
			path, mapKey := fieldPath(key, name), reflect.ValueOf(name).Convert(v.Type().Key())
			value := reflect.New(v.Type().Elem()).Elem()
			if existing := entries.MapIndex(mapKey); existing.IsValid() {
				value.Set(existing)
			} else if sections {
				d.unknownKey(keyNode, path, name, names)
				return
			}
			d.decode(valueNode, path, value)
			entries.SetMapIndex(mapKey, value)
		})
		v.Set(entries)
	default:
		scalar, supported := scalarTypes[v.Type()]
		if !supported {
			d.fail(n, key, "internal error: the configuration type %s is not supported", v.Type())
		} else if n.Kind != yaml.ScalarNode || isNull(n) {
			d.fail(n, key, "expected %s, got %s", scalar.want, describeNode(n))
		} else if value, problem := scalar.parse(n.Value); problem != "" {
			d.fail(n, key, "%s", problem)
		} else {
			v.Set(reflect.ValueOf(value))
		}
	}
}

// expect reports whether n is of the wanted kind, and reports it otherwise.
func (d *decoder) expect(n *yaml.Node, key string, kind yaml.Kind, want string) bool {
	if n.Kind != kind {
		d.fail(n, key, "expected %s, got %s", want, describeNode(n))
	}
	return n.Kind == kind
}

// unknownKey reports the key name at path, suggesting the likely intended
// name of known.
func (d *decoder) unknownKey(n *yaml.Node, path, name string, known []string) {
	if suggestion, ok := closestName(name, known); ok {
		d.report(n, path, "unknown key %q; did you mean %q?", path, suggestion)
	} else {
		d.report(n, path, "unknown key %q", path)
	}
}

// fail reports that the value at key could not be decoded.
func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.report(n, key, format, args...)
	d.failed[key] = true
}

// report records a problem located at node n.
func (d *decoder) report(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Column: n.Column, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// describeNode names what a node holds, for error messages.
func describeNode(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "null"
	default:
		return strconv.Quote(n.Value)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// structFields lists the configurable fields of a struct type by YAML name.
type structFields struct {
	names []string       // in declaration order
	index map[string]int // YAML name to field index
}

// yamlFields returns the fields that carry a `yaml:"name"` tag.
func yamlFields(t reflect.Type) structFields {
	fields := structFields{index: map[string]int{}}
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("yaml"); name != "" {
			fields.names = append(fields.names, name)
			fields.index[name] = i
		}
	}
	return fields
}

// forEachEntry calls visit for each entry of a mapping whose key is a plain,
// not yet seen scalar; it reports the other entries.
func (d *decoder) forEachEntry(n *yaml.Node, key string, visit func(name string, keyNode, valueNode *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode, resolved := n.Content[i], n.Content[i]
		if resolved.Kind == yaml.AliasNode {
			resolved = resolved.Alias
		}
		name := resolved.Value
		first, duplicate := seen[name]
		switch {
		case resolved.ShortTag() == "!!merge":
			d.report(resolved, key, "merge keys (<<) are not supported")
		case resolved.Kind != yaml.ScalarNode:
			d.report(resolved, key, "mapping keys must be scalars, got %s", describeNode(resolved))
		case duplicate:
			d.report(keyNode, fieldPath(key, name), "duplicate key %q (first defined at line %d)", fieldPath(key, name), first.Line)
		default:
			seen[name] = keyNode
			visit(name, keyNode, n.Content[i+1])
		}
	}
}

// locate completes validation problems with the file and the position of the
// offending value, and drops those about values that already failed to decode.
func (d *decoder) locate(problems Errors) Errors {
	problems = slices.DeleteFunc(problems, func(problem *Error) bool { return d.alreadyFailed(problem.Key) })
	for _, problem := range problems {
		problem.File = d.file
		if pos, ok := d.positions[problem.Key]; ok {
			problem.Line, problem.Column = pos.line, pos.column
		}
	}
	return problems
}

// alreadyFailed reports whether key, or a key path containing it, was
// reported while decoding.
func (d *decoder) alreadyFailed(key string) bool {
	for i := range len(key) + 1 {
		if (i == len(key) || key[i] == '.' || key[i] == '[') && d.failed[key[:i]] {
			return true
		}
	}
	return false
}

// simpleName matches keys that can be written after a dot in a key path.
var simpleName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// fieldPath appends a mapping key to a key path: prometheus.listen_address,
// or attributes["service.name"] for keys that are not simple names.
func fieldPath(parent, name string) string {
	switch {
	case !simpleName.MatchString(name):
		return parent + "[" + strconv.Quote(name) + "]"
	case parent == "":
		return name
	default:
		return parent + "." + name
	}
}

// indexPath appends a list index to a key path: interfaces.include[1].
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// closestName returns the known name most similar to name, if it is close
// enough to be a likely typo (case is ignored): an edit distance of at most
// 1 for names of up to 4 runes, 2 up to 10 runes, 3 beyond.
func closestName(name string, known []string) (string, bool) {
	best, bestDistance := "", math.MaxInt
	for _, candidate := range known {
		if distance := editDistance(strings.ToLower(name), strings.ToLower(candidate)); distance < bestDistance {
			best, bestDistance = candidate, distance
		}
	}
	tolerance := 3
	if length := utf8.RuneCountInString(best); length <= 4 {
		tolerance = 1
	} else if length <= 10 {
		tolerance = 2
	}
	if bestDistance > tolerance {
		return "", false
	}
	return best, true
}

// editDistance is the optimal string alignment distance: the number of rune
// insertions, deletions, substitutions and adjacent transpositions.
var editDistance = edlib.OSADamerauLevenshteinDistance
