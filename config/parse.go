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
	cfg := Default()
	dec, err := decodeDocument(name, data, &cfg)
	if err != nil {
		return Config{}, nil, err
	}
	problems := append(dec.errs, dec.locate(cfg.problems())...)
	if err := problems.asError(); err != nil {
		return Config{}, nil, err
	}
	return cfg, dec.positions, nil
}

// decodeDocument overlays the YAML document in data onto *target, which must
// be a pointer to a struct. A document that cannot be read at all is returned
// as an error; problems with individual keys are collected in the decoder.
func decodeDocument(name string, data []byte, target any) (*decoder, error) {
	root, problem := readDocument(data)
	if problem != nil {
		problem.File = name
		return nil, Errors{problem}
	}
	dec := newDecoder(name)
	if root != nil {
		dec.decode(root, "", reflect.ValueOf(target).Elem())
	}
	return dec, nil
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
// an empty stream and rejects a second document.
func decodeSingleDocument(data []byte) (*yaml.Node, *Error) {
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	first, err := decodeNext(decoder)
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, syntaxError(err)
	}
	second, err := decodeNext(decoder)
	switch {
	case errors.Is(err, io.EOF):
		return first, nil
	case err != nil:
		return nil, syntaxError(err)
	default:
		return nil, &Error{Line: second.Line, Column: second.Column,
			Msg: "found a second YAML document; only one document is allowed"}
	}
}

// decodeNext reads the next document, turning a panic inside the YAML
// library into an error.
func decodeNext(decoder *yaml.Decoder) (doc *yaml.Node, err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			doc, err = nil, fmt.Errorf("yaml: parser failure: %v", recovered)
		}
	}()
	doc = new(yaml.Node)
	if err := decoder.Decode(doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("yaml: unexpected document structure")
	}
	return doc, nil
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
