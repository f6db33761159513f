package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// position is where a value was found in the document.
type position struct {
	line, column int
}

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

// scalarTypes are the scalar types a setting can have. A Config made only of
// structs, slices and string-keyed maps of these is fully decodable; a test
// makes sure of it.
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
// them, null keeps everything. A list or mapping replaces a slice or map,
// null empties it. Aliases are followed; the Config's types nest only a few
// levels, so alias expansion cannot make the walk blow up.
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
			if index, known := fields.index[name]; known {
				d.decode(valueNode, fieldPath(key, name), v.Field(index))
			} else if suggestion, ok := closestName(name, fields.names); ok {
				d.report(keyNode, fieldPath(key, name), "unknown key %q; did you mean %q?", fieldPath(key, name), suggestion)
			} else {
				d.report(keyNode, fieldPath(key, name), "unknown key %q", fieldPath(key, name))
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
		if isNull(n) {
			v.SetZero()
		} else if d.expect(n, key, yaml.MappingNode, "a mapping") {
			entries := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
			d.forEachEntry(n, key, func(name string, _, valueNode *yaml.Node) {
				value := reflect.New(v.Type().Elem()).Elem()
				d.decode(valueNode, fieldPath(key, name), value)
				entries.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), value)
			})
			v.Set(entries)
		}
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
