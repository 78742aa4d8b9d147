package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// SyntaxError reports a spec that could not be read into a Spec: it is not
// YAML, it has the wrong shape (a list where a mapping belongs, text where
// a number belongs) or it names a field that does not exist. Line and
// Column are 1-based positions in the input (Column is 0 in the rare case
// that the YAML parser names only a line).
type SyntaxError struct {
	Line, Column int
	Msg          string
}

// Error formats e as "line L, column C: msg".
func (e *SyntaxError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	default:
		return e.Msg
	}
}

// ParseSpec reads a YAML (or JSON, which is YAML too) spec into a Spec. It
// is strict: a field that Spec does not have, a value of the wrong kind, a
// key given twice or a second document is a *SyntaxError carrying the line
// and column. ParseSpec applies no defaults and checks no rules beyond the
// shape: use LoadSpec for a spec that is ready to apply.
func ParseSpec(data []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &SyntaxError{Line: 1, Column: 1, Msg: "the spec is empty: it needs at least a zones list"}
		}
		return nil, decodeError(dec, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &SyntaxError{Line: extra.Line, Column: extra.Column, Msg: "the spec holds more than one YAML document; give one"}
	} else if !errors.Is(err, io.EOF) {
		return nil, decodeError(dec, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, &SyntaxError{Line: root.Line, Column: root.Column, Msg: "the spec is empty: it needs at least a zones list"}
	}
	if root.Kind != yaml.MappingNode {
		return nil, &SyntaxError{Line: root.Line, Column: root.Column, Msg: "the spec must be a mapping with the keys zones and pools"}
	}
	w := shapeWalker{seen: map[walkKey]bool{}, fields: map[reflect.Type]map[string]reflect.StructField{}}
	if err := w.walk(root, reflect.TypeFor[Spec](), ""); err != nil {
		return nil, err
	}
	var s Spec
	if err := root.Decode(&s); err != nil {
		// The walk above checks every value that Decode reads, so this
		// is a gap in the walk rather than in the input; still report
		// it as bad input.
		return nil, yamlSyntaxError(err)
	}
	return &s, nil
}

// LoadSpec parses data, applies the defaults and checks every rule: the
// result is ready to apply. Errors are a *SyntaxError or a
// *ValidationError.
func LoadSpec(data []byte) (*Spec, error) {
	s, err := ParseSpec(data)
	if err != nil {
		return nil, err
	}
	s.Normalize()
	if err := Validate(s); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeError turns a failed yaml.v3 Decode into a *SyntaxError. yaml.v3
// (v3.0.1) words its errors with the line of the context, counted from 0
// for parser errors and from 1 for scanner errors, and never with a column;
// but its Decoder keeps libyaml's marks of the problem. markError reads
// them; when it cannot (another yaml.v3 layout), the line from the message
// is used. TestParseSpec_syntaxPositions pins this.
func decodeError(dec *yaml.Decoder, err error) error {
	if se := markError(dec); se != nil {
		return se
	}
	return yamlSyntaxError(err)
}

// markError reads the problem and its position out of the decoder's
// parser state, or returns nil when that state is not laid out as
// expected.
func markError(dec *yaml.Decoder) *SyntaxError {
	d := reflect.ValueOf(dec)
	if d.Kind() != reflect.Pointer || d.IsNil() {
		return nil
	}
	pp := d.Elem().FieldByName("parser")
	if pp.Kind() != reflect.Pointer || pp.IsNil() {
		return nil
	}
	p := pp.Elem().FieldByName("parser")
	if p.Kind() != reflect.Struct {
		return nil
	}
	str := func(v reflect.Value, name string) (string, bool) {
		f := v.FieldByName(name)
		if f.Kind() != reflect.String {
			return "", false
		}
		return f.String(), true
	}
	mark := func(name string) (line, col int, ok bool) {
		m := p.FieldByName(name)
		if m.Kind() != reflect.Struct {
			return 0, 0, false
		}
		l, c := m.FieldByName("line"), m.FieldByName("column")
		if l.Kind() != reflect.Int || c.Kind() != reflect.Int {
			return 0, 0, false
		}
		return int(l.Int()) + 1, int(c.Int()) + 1, true
	}
	problem, ok := str(p, "problem")
	if !ok || problem == "" {
		return nil
	}
	line, col, ok := mark("problem_mark")
	if !ok {
		return nil
	}
	msg := problem
	if ctx, ok := str(p, "context"); ok && ctx != "" {
		if cl, cc, ok := mark("context_mark"); ok && (cl != line || cc != col) {
			msg = fmt.Sprintf("%s (%s at line %d, column %d)", problem, ctx, cl, cc)
		}
	}
	return &SyntaxError{Line: line, Column: col, Msg: msg}
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlSyntaxError turns a yaml.v3 error into a *SyntaxError, keeping the
// line that yaml.v3 puts into its message.
func yamlSyntaxError(err error) error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &SyntaxError{Line: line, Msg: m[2]}
	}
	// yaml.v3 leaves the line out when it is the first one.
	return &SyntaxError{Line: 1, Msg: msg}
}

// shapeWalker checks a YAML node tree against the Go type it will be
// decoded into, so that every unknown field and wrongly shaped value is
// reported with its exact line and column (yaml.v3 itself reports only
// lines, and only while decoding from a Decoder). It checks each node
// once per target type, so that aliases that fan out ("billion laughs")
// cost no more than the document's size; yaml.v3's Decode then refuses
// excessive aliasing itself.
type shapeWalker struct {
	// seen records alias targets already checked against a type.
	seen map[walkKey]bool
	// fields caches yamlFields per struct type.
	fields map[reflect.Type]map[string]reflect.StructField
}

type walkKey struct {
	n *yaml.Node
	t reflect.Type
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// walk checks n against t; path is the field path so far, for messages.
func (w *shapeWalker) walk(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
		k := walkKey{n, t}
		if w.seen[k] {
			return nil
		}
		w.seen[k] = true
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // null leaves the zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			return shapeError(n, path, stripLine(err.Error()))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return shapeError(n, path, fmt.Sprintf("want a mapping of fields, found %s", nodeKind(n)))
		}
		fields, ok := w.fields[t]
		if !ok {
			fields = yamlFields(t)
			w.fields[t] = fields
		}
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return shapeError(k, path, "a field name must be plain text")
			}
			if k.Tag == "!!merge" {
				// "<<: *base" or "<<: [*a, *b]" merges mappings of
				// the same type; explicit keys override merged ones.
				if err := w.walkMerge(v, t, path); err != nil {
					return err
				}
				continue
			}
			if line, dup := seen[k.Value]; dup {
				return shapeError(k, path, fmt.Sprintf("field %q is given twice (first at line %d)", k.Value, line))
			}
			seen[k.Value] = k.Line
			f, ok := fields[k.Value]
			if !ok {
				return shapeError(k, path, fmt.Sprintf("unknown field %q (known fields: %s)", k.Value, knownList(t)))
			}
			if err := w.walk(v, f.Type, joinPath(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return shapeError(n, path, fmt.Sprintf("want a list, found %s", nodeKind(n)))
		}
		for i, c := range n.Content {
			if err := w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return shapeError(n, path, fmt.Sprintf("want a mapping, found %s", nodeKind(n)))
		}
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return shapeError(k, path, "a key must be plain text")
			}
			if line, dup := seen[k.Value]; dup {
				return shapeError(k, path, fmt.Sprintf("key %q is given twice (first at line %d)", k.Value, line))
			}
			seen[k.Value] = k.Line
			if err := w.walk(v, t.Elem(), joinPath(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return shapeError(n, path, fmt.Sprintf("want text, found %s", nodeKind(n)))
		}
		return nil
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml.ScalarNode {
			return shapeError(n, path, fmt.Sprintf("want %s, found %s", kindWord(t), nodeKind(n)))
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return shapeError(n, path, fmt.Sprintf("want %s, found %q", kindWord(t), n.Value))
		}
		return nil
	default:
		return shapeError(n, path, fmt.Sprintf("cannot read a value into %s", t))
	}
}

// walkMerge checks the value of a merge key: a mapping or a list of
// mappings, each checked against t.
// Aliases are passed to walk unresolved, so that its memo keeps merges of
// merges linear too.
func (w *shapeWalker) walkMerge(v *yaml.Node, t reflect.Type, path string) error {
	switch target(v).Kind {
	case yaml.MappingNode:
		return w.walk(v, t, path)
	case yaml.SequenceNode:
		for _, c := range target(v).Content {
			if target(c).Kind != yaml.MappingNode {
				return shapeError(c, path, "a merge (<<) list must hold mappings")
			}
			if err := w.walk(c, t, path); err != nil {
				return err
			}
		}
		return nil
	default:
		return shapeError(v, path, "a merge (<<) needs a mapping or a list of mappings")
	}
}

// target resolves an alias node to the node it names.
func target(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func shapeError(n *yaml.Node, path, msg string) error {
	if path != "" {
		msg = path + ": " + msg
	}
	return &SyntaxError{Line: n.Line, Column: n.Column, Msg: msg}
}

var lineNRE = regexp.MustCompile(`^line \d+: `)

// stripLine removes the "line N: " that our own unmarshalers put in front.
func stripLine(s string) string { return lineNRE.ReplaceAllString(s, "") }

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "something else"
	}
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<(t.Bits())-1)
	default:
		return "a whole number"
	}
}

// yamlFields maps the YAML keys of struct type t to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f
	}
	return m
}

func knownList(t reflect.Type) string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}
