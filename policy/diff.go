package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Operations and kinds of a Change.
const (
	OpAdd    = "add"
	OpRemove = "remove"
	OpChange = "change"

	KindZone     = "zone"
	KindRecord   = "record"
	KindPool     = "pool"
	KindEndpoint = "endpoint"
	KindSettings = "settings"
)

// Change is one difference between two specs, as a dry run shows it.
// Name is the zone or pool name, "owner TYPE" for a record set
// ("mail.example.test. A") and "pool/endpoint" for an endpoint
// ("www.example.test./us-east-1"). Detail says what changed, field by
// field ("weight 70 -> 50; addresses [127.0.0.11] -> [127.0.0.21]"), or
// summarises what is added or removed.
type Change struct {
	Op     string `json:"op"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Detail string `json:"detail,omitempty"`
}

// String formats c as one line: "change pool www.example.test.: ttl 20 -> 30".
func (c Change) String() string {
	s := c.Op + " " + c.Kind + " " + c.Name
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// Diff lists the changes that turn old into new, both normalized (nil is
// an empty spec). The order is deterministic: zones by name, each followed
// by its record sets by name and type, then pools by name, each followed by
// its endpoints by name. Identical specs give no changes.
func Diff(old, new *Spec) []Change {
	if old == nil {
		old = &Spec{}
	}
	if new == nil {
		new = &Spec{}
	}
	var out []Change
	oz, nz := indexBy(old.Zones, func(z *Zone) string { return z.Name }), indexBy(new.Zones, func(z *Zone) string { return z.Name })
	for _, name := range unionKeys(oz, nz) {
		a, b := oz[name], nz[name]
		switch {
		case a == nil:
			out = append(out, Change{OpAdd, KindZone, name, count(len(b.Nameservers), "nameserver") + ", " + count(len(b.Records), "record set")})
		case b == nil:
			out = append(out, Change{OpRemove, KindZone, name, count(len(a.Records), "record set")})
		default:
			var d []string
			fieldDiffs("", reflect.ValueOf(*a), reflect.ValueOf(*b), &d, "records", "nameservers")
			d = append(d, nameserverDiffs(a.Nameservers, b.Nameservers)...)
			if len(d) > 0 {
				out = append(out, Change{OpChange, KindZone, name, strings.Join(d, "; ")})
			}
		}
		var ar, br []Record
		if a != nil {
			ar = a.Records
		}
		if b != nil {
			br = b.Records
		}
		out = append(out, recordDiffs(ar, br)...)
	}
	op, np := indexBy(old.Pools, func(p *Pool) string { return p.Name }), indexBy(new.Pools, func(p *Pool) string { return p.Name })
	for _, name := range unionKeys(op, np) {
		a, b := op[name], np[name]
		switch {
		case a == nil:
			out = append(out, Change{OpAdd, KindPool, name, fmt.Sprintf("%s, %s check, %s", b.Policy, b.Check.Type, count(len(b.Endpoints), "endpoint"))})
			continue
		case b == nil:
			out = append(out, Change{OpRemove, KindPool, name, count(len(a.Endpoints), "endpoint")})
			continue
		}
		var d []string
		fieldDiffs("", reflect.ValueOf(*a), reflect.ValueOf(*b), &d, "endpoints")
		if len(d) > 0 {
			out = append(out, Change{OpChange, KindPool, name, strings.Join(d, "; ")})
		}
		oe, ne := indexBy(a.Endpoints, func(e *Endpoint) string { return e.Name }), indexBy(b.Endpoints, func(e *Endpoint) string { return e.Name })
		for _, en := range unionKeys(oe, ne) {
			x, y := oe[en], ne[en]
			full := name + "/" + en
			switch {
			case x == nil:
				out = append(out, Change{OpAdd, KindEndpoint, full, summary(reflect.ValueOf(*y), "name")})
			case y == nil:
				out = append(out, Change{OpRemove, KindEndpoint, full, ""})
			default:
				var d []string
				fieldDiffs("", reflect.ValueOf(*x), reflect.ValueOf(*y), &d)
				if len(d) > 0 {
					out = append(out, Change{OpChange, KindEndpoint, full, strings.Join(d, "; ")})
				}
			}
		}
	}
	var d []string
	fieldDiffs("", reflect.ValueOf(*old), reflect.ValueOf(*new), &d, "zones", "pools")
	if len(d) > 0 {
		out = append(out, Change{OpChange, KindSettings, "settings", strings.Join(d, "; ")})
	}
	return out
}

func recordDiffs(old, new []Record) []Change {
	key := func(r *Record) string { return r.Name + " " + r.Type }
	o, n := indexBy(old, key), indexBy(new, key)
	var out []Change
	for _, k := range unionKeys(o, n) {
		a, b := o[k], n[k]
		switch {
		case a == nil:
			out = append(out, Change{OpAdd, KindRecord, k, summary(reflect.ValueOf(*b), "name", "type")})
		case b == nil:
			out = append(out, Change{OpRemove, KindRecord, k, ""})
		default:
			var d []string
			fieldDiffs("", reflect.ValueOf(*a), reflect.ValueOf(*b), &d, "name", "type")
			if len(d) > 0 {
				out = append(out, Change{OpChange, KindRecord, k, strings.Join(d, "; ")})
			}
		}
	}
	return out
}

func nameserverDiffs(old, new []Nameserver) []string {
	o := indexBy(old, func(n *Nameserver) string { return n.Name })
	n := indexBy(new, func(n *Nameserver) string { return n.Name })
	var out []string
	for _, k := range unionKeys(o, n) {
		a, b := o[k], n[k]
		switch {
		case a == nil && len(b.Addresses) == 0:
			out = append(out, "nameserver "+k+" added")
		case a == nil:
			out = append(out, fmt.Sprintf("nameserver %s added with glue %s", k, formatValue(reflect.ValueOf(b.Addresses))))
		case b == nil:
			out = append(out, "nameserver "+k+" removed")
		case !slices.Equal(a.Addresses, b.Addresses):
			out = append(out, fmt.Sprintf("nameserver %s addresses %s -> %s", k, formatValue(reflect.ValueOf(a.Addresses)), formatValue(reflect.ValueOf(b.Addresses))))
		}
	}
	return out
}

// count writes "1 endpoint" or "3 endpoints".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// indexBy maps each element of xs by key; a repeated key keeps the first
// (a validated spec has none).
func indexBy[T any](xs []T, key func(*T) string) map[string]*T {
	m := make(map[string]*T, len(xs))
	for i := range xs {
		k := key(&xs[i])
		if _, ok := m[k]; !ok {
			m[k] = &xs[i]
		}
	}
	return m
}

func unionKeys[T any](a, b map[string]*T) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

var stringerType = reflect.TypeFor[fmt.Stringer]()

// fieldDiffs appends "field old -> new" for each field of the structs a and
// b that differs, descending into nested structs with dotted names and
// skipping the fields named in skip (YAML names at the top level).
func fieldDiffs(prefix string, a, b reflect.Value, out *[]string, skip ...string) {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := yamlName(f)
		if slices.Contains(skip, name) {
			continue
		}
		x, y := a.Field(i), b.Field(i)
		if reflect.DeepEqual(x.Interface(), y.Interface()) {
			continue
		}
		full := prefix + name
		if isNested(f.Type) {
			if f.Type.Kind() == reflect.Pointer {
				if x.IsNil() || y.IsNil() {
					*out = append(*out, fmt.Sprintf("%s %s -> %s", full, formatValue(x), formatValue(y)))
					continue
				}
				x, y = x.Elem(), y.Elem()
			}
			fieldDiffs(full+".", x, y, out)
			continue
		}
		*out = append(*out, fmt.Sprintf("%s %s -> %s", full, formatValue(x), formatValue(y)))
	}
}

// isNested reports whether t is a struct (or pointer to one) to descend
// into rather than print whole.
func isNested(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && !t.Implements(stringerType)
}

// summary lists the set fields of struct v, skipping those in skip.
func summary(v reflect.Value, skip ...string) string {
	t := v.Type()
	var parts []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if !f.IsExported() || slices.Contains(skip, name) || v.Field(i).IsZero() {
			continue
		}
		parts = append(parts, name+" "+formatValue(v.Field(i)))
	}
	return strings.Join(parts, ", ")
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

// formatValue prints a field value compactly for a diff detail.
func formatValue(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "unset"
		}
		v = v.Elem()
	}
	if v.Type().Implements(stringerType) {
		return v.Interface().(fmt.Stringer).String()
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if s == "" || strings.ContainsAny(s, " \t\"") {
			return fmt.Sprintf("%q", s)
		}
		return s
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatValue(v.Index(i))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k.String() + "=" + formatValue(v.MapIndex(k))
		}
		return "{" + strings.Join(parts, " ") + "}"
	case reflect.Struct:
		return "{" + summary(v) + "}"
	default:
		return fmt.Sprint(v.Interface())
	}
}
