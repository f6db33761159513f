package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

const (
	// maxFileSize is the largest configuration accepted, in bytes.
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

// readDocument checks the raw bytes and parses them into the top-level
// mapping node; it returns nil for an empty document. The returned *Error
// lacks the file name.
func readDocument(data []byte) (*yaml.Node, *Error) {
	if len(data) > maxFileSize {
		return nil, &Error{Msg: fmt.Sprintf("file is larger than the limit of %d bytes (1 MiB)", maxFileSize)}
	}
	if problem := checkCharacters(data); problem != nil {
		return nil, problem
	}
	doc, problem := decodeSingleDocument(data)
	if doc == nil || problem != nil {
		return nil, problem
	}
	root := doc.Content[0]
	if isNull(root) {
		return nil, nil
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

// checkCharacters rejects invalid UTF-8 and characters YAML does not allow,
// with their exact position. Input starting with a UTF-16 byte order mark is
// left to the YAML parser.
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
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20 || r == 0x7F:
		return false
	case r >= 0x80 && r < 0xA0:
		return r == 0x85
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return true
}

// decodeSingleDocument parses data into a document node; it returns nil for
// an empty stream and rejects a second document. A panic inside the YAML
// library is turned into an error.
func decodeSingleDocument(data []byte) (doc *yaml.Node, problem *Error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			doc, problem = nil, syntaxError(fmt.Errorf("yaml: parser failure: %v", recovered))
		}
	}()
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if err := decoder.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(err)
	}
	switch err := decoder.Decode(&second); {
	case err == nil:
		return nil, &Error{Line: second.Line, Column: second.Column,
			Msg: "found a second YAML document; only one document is allowed"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err)
	case first.Kind != yaml.DocumentNode || len(first.Content) != 1:
		return nil, syntaxError(errors.New("yaml: unexpected document structure"))
	}
	return &first, nil
}

var yamlLinePrefix = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// syntaxError converts a YAML library error ("yaml: line 3: ...") into an
// *Error with the line when the library gives one.
func syntaxError(err error) *Error {
	text := err.Error()
	problem := &Error{}
	if match := yamlLinePrefix.FindStringSubmatch(text); match != nil {
		problem.Line, _ = strconv.Atoi(match[1])
		text = text[len(match[0]):]
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
		if problem := checkDepth(child, childKeyOf(n, key, i), depth+1); problem != nil {
			return problem
		}
	}
	return nil
}

// childKeyOf returns the key path of the i-th content node of n.
func childKeyOf(n *yaml.Node, key string, i int) string {
	if n.Kind == yaml.SequenceNode {
		return indexPath(key, i)
	}
	keyNode := n.Content[i-i%2]
	return fieldPath(key, keyNode.Value)
}
