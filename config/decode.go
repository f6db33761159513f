package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxVisits bounds how many nodes one document may make the decoder visit.
// A document of at most maxFileSize bytes cannot reach it without aliases, so
// it only stops alias expansion blowups ("billion laughs").
const maxVisits = 1 << 20

var durationType = reflect.TypeFor[time.Duration]()

// position is where a value was found in the document.
type position struct {
	line, column int
}

// decoder walks a YAML node tree against a Go value, guided by the `yaml`
// struct tags, and collects every problem instead of stopping at the first.
type decoder struct {
	file string
	errs Errors
	// positions maps each key path that was set to the position of its value.
	positions map[string]position
	// failed holds the key paths whose value could not be decoded.
	failed map[string]bool
	visits int
	depth  int
	// exhausted is set once maxVisits or maxDepth was hit; decoding stops.
	exhausted bool
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, positions: map[string]position{}, failed: map[string]bool{}}
}

// decode stores the value of node n, found at key path key, into v.
func (d *decoder) decode(n *yaml.Node, key string, v reflect.Value) {
	if !d.enter(n, key) {
		return
	}
	defer d.leave()
	d.positions[key] = position{n.Line, n.Column}
	n = resolveAlias(n)
	if v.Type() == durationType {
		d.decodeDuration(n, key, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, key, v)
	case reflect.Slice:
		d.decodeSlice(n, key, v)
	case reflect.Map:
		d.decodeMap(n, key, v)
	case reflect.String:
		d.decodeString(n, key, v)
	case reflect.Bool:
		d.decodeBool(n, key, v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.decodeInt(n, key, v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.decodeUint(n, key, v)
	case reflect.Float32, reflect.Float64:
		d.decodeFloat(n, key, v)
	default:
		d.fail(n, key, "internal error: the configuration type %s is not supported", v.Type())
	}
}

// enter counts a visit and reports whether decoding may go on.
func (d *decoder) enter(n *yaml.Node, key string) bool {
	if d.exhausted {
		return false
	}
	d.visits++
	d.depth++
	switch {
	case d.visits > maxVisits:
		d.fail(n, key, "document is too complex: aliases expand to more than %d values", maxVisits)
	case d.depth > maxDepth+1:
		d.fail(n, key, "nesting exceeds the maximum depth of %d", maxDepth)
	default:
		return true
	}
	d.exhausted = true
	d.depth--
	return false
}

func (d *decoder) leave() {
	d.depth--
}

// resolveAlias returns the node an alias refers to, or n itself.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for range maxDepth {
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			break
		}
		n = n.Alias
	}
	return n
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

func (d *decoder) wrongKind(n *yaml.Node, key, want string) {
	d.fail(n, key, "expected %s, got %s", want, describeNode(n))
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

// decodeStruct overlays a mapping onto a struct: given keys replace fields,
// omitted keys keep their current (default) values. Null keeps everything.
func (d *decoder) decodeStruct(n *yaml.Node, key string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.wrongKind(n, key, "a mapping")
		return
	}
	fields := yamlFields(v.Type())
	d.forEachEntry(n, key, func(name string, keyNode, valueNode *yaml.Node) {
		fieldKey := fieldPath(key, name)
		index, known := fields.index[name]
		if !known {
			d.unknownKey(keyNode, fieldKey, name, fields.names)
			return
		}
		d.decode(valueNode, fieldKey, v.Field(index))
	})
}

func (d *decoder) unknownKey(keyNode *yaml.Node, key, name string, known []string) {
	if suggestion, ok := closestName(name, known); ok {
		d.report(keyNode, key, "unknown key %q; did you mean %q?", key, suggestion)
		return
	}
	d.report(keyNode, key, "unknown key %q", key)
}

// structFields lists the configurable fields of a struct type by YAML name.
type structFields struct {
	names []string       // in declaration order
	index map[string]int // YAML name to field index
}

// yamlFields returns the exported fields that carry a `yaml:"name"` tag.
// Fields without a tag, or tagged "-", are not configurable.
func yamlFields(t reflect.Type) structFields {
	fields := structFields{index: map[string]int{}}
	for i := range t.NumField() {
		field := t.Field(i)
		name, _, _ := strings.Cut(field.Tag.Get("yaml"), ",")
		if !field.IsExported() || name == "" || name == "-" {
			continue
		}
		fields.names = append(fields.names, name)
		fields.index[name] = i
	}
	return fields
}

// forEachEntry calls visit for each entry of a mapping whose key is a valid,
// not yet seen scalar; it reports the other entries.
func (d *decoder) forEachEntry(n *yaml.Node, key string, visit func(name string, keyNode, valueNode *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode, valueNode := n.Content[i], n.Content[i+1]
		name, ok := d.entryName(resolveAlias(keyNode), key)
		if !ok {
			continue
		}
		if first, duplicate := seen[name]; duplicate {
			d.report(keyNode, fieldPath(key, name), "duplicate key %q (first defined at line %d)", fieldPath(key, name), first.Line)
			continue
		}
		seen[name] = keyNode
		visit(name, keyNode, valueNode)
	}
}

// entryName returns the text of a mapping key, reporting keys that are not
// plain scalars.
func (d *decoder) entryName(keyNode *yaml.Node, key string) (string, bool) {
	switch {
	case keyNode.ShortTag() == "!!merge":
		d.report(keyNode, key, "merge keys (<<) are not supported")
	case keyNode.Kind != yaml.ScalarNode:
		d.report(keyNode, key, "mapping keys must be scalars, got %s", describeNode(keyNode))
	default:
		return keyNode.Value, true
	}
	return "", false
}

// decodeSlice replaces the slice with the list's items. Null empties it.
func (d *decoder) decodeSlice(n *yaml.Node, key string, v reflect.Value) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.wrongKind(n, key, "a list")
		return
	}
	items := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, indexPath(key, i), items.Index(i))
	}
	v.Set(items)
}

// decodeMap replaces the map with the mapping's entries. Null empties it.
func (d *decoder) decodeMap(n *yaml.Node, key string, v reflect.Value) {
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.fail(n, key, "internal error: the configuration type %s is not supported", v.Type())
		return
	}
	if n.Kind != yaml.MappingNode {
		d.wrongKind(n, key, "a mapping")
		return
	}
	entries := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	d.forEachEntry(n, key, func(name string, _, valueNode *yaml.Node) {
		value := reflect.New(v.Type().Elem()).Elem()
		d.decode(valueNode, fieldPath(key, name), value)
		entries.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), value)
	})
	v.Set(entries)
}

// scalar returns the text of a non-null scalar, reporting anything else.
func (d *decoder) scalar(n *yaml.Node, key, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.wrongKind(n, key, want)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) decodeString(n *yaml.Node, key string, v reflect.Value) {
	if text, ok := d.scalar(n, key, "a string"); ok {
		v.SetString(text)
	}
}

// decodeBool accepts exactly true and false.
func (d *decoder) decodeBool(n *yaml.Node, key string, v reflect.Value) {
	text, ok := d.scalar(n, key, "a boolean")
	if !ok {
		return
	}
	switch text {
	case "true":
		v.SetBool(true)
	case "false":
		v.SetBool(false)
	default:
		d.fail(n, key, "invalid boolean %q (want true or false)", text)
	}
}

// decodeInt accepts base-10 integers that fit the field.
func (d *decoder) decodeInt(n *yaml.Node, key string, v reflect.Value) {
	text, ok := d.scalar(n, key, "an integer")
	if !ok {
		return
	}
	number, err := strconv.ParseInt(text, 10, v.Type().Bits())
	if err != nil {
		d.fail(n, key, "invalid integer %q (%s)", text, integerProblem(err, "want a base-10 integer"))
		return
	}
	v.SetInt(number)
}

// decodeUint accepts non-negative base-10 integers that fit the field.
func (d *decoder) decodeUint(n *yaml.Node, key string, v reflect.Value) {
	text, ok := d.scalar(n, key, "a non-negative integer")
	if !ok {
		return
	}
	number, err := strconv.ParseUint(text, 10, v.Type().Bits())
	if err != nil {
		d.fail(n, key, "invalid integer %q (%s)", text, integerProblem(err, "want a non-negative base-10 integer"))
		return
	}
	v.SetUint(number)
}

func integerProblem(err error, syntaxHint string) string {
	if errors.Is(err, strconv.ErrRange) {
		return "out of range"
	}
	return syntaxHint
}

// decimalNumber is YAML 1.2's core schema float syntax without .inf and .nan.
var decimalNumber = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// decodeFloat accepts finite decimal numbers.
func (d *decoder) decodeFloat(n *yaml.Node, key string, v reflect.Value) {
	text, ok := d.scalar(n, key, "a number")
	if !ok {
		return
	}
	number, err := strconv.ParseFloat(text, v.Type().Bits())
	if !decimalNumber.MatchString(text) || err != nil || math.IsInf(number, 0) {
		d.fail(n, key, "invalid number %q (want a finite decimal number)", text)
		return
	}
	v.SetFloat(number)
}

// decodeDuration accepts Go duration syntax such as 30s or 1h30m.
func (d *decoder) decodeDuration(n *yaml.Node, key string, v reflect.Value) {
	text, ok := d.scalar(n, key, "a duration")
	if !ok {
		return
	}
	duration, err := time.ParseDuration(text)
	if err != nil {
		d.fail(n, key, "invalid duration %q (want a number with a unit, e.g. 500ms, 30s, 1h30m)", text)
		return
	}
	v.SetInt(int64(duration))
}

// locate completes validation problems with the file and the position of the
// offending value, and drops those about values that already failed to decode.
func (d *decoder) locate(problems Errors) Errors {
	var located Errors
	for _, problem := range problems {
		if d.alreadyFailed(problem.Key) {
			continue
		}
		problem.File = d.file
		if pos, ok := d.positions[problem.Key]; ok {
			problem.Line, problem.Column = pos.line, pos.column
		}
		located = append(located, problem)
	}
	return located
}

// alreadyFailed reports whether key, or a key path containing it, was
// reported while decoding.
func (d *decoder) alreadyFailed(key string) bool {
	if d.failed[key] {
		return true
	}
	for i := range len(key) {
		if (key[i] == '.' || key[i] == '[') && d.failed[key[:i]] {
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
