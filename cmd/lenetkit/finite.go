package main

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/modelfile"
)

// The commands that read models (convert, eval, infer, inspect) share
// --allow-nonfinite and write JSON that NaN cannot break.

// allowNonFiniteFlag is --allow-nonfinite.
var allowNonFiniteFlag = &cli.BoolFlag{Name: "allow-nonfinite", Usage: "accept a model whose weights hold NaN or infinite values (refused by default); JSON writes non-finite results as null"}

// readOptions are how the command reads models, from its flags.
func readOptions(c *cli.Context) modelfile.ReadOptions {
	return modelfile.ReadOptions{AllowNonFinite: c.Bool("allow-nonfinite")}
}

// finiteJSON writes v as encoding/json does, except that a NaN or infinite
// number, which encoding/json refuses, becomes null: a model with such
// weights (--allow-nonfinite) gives such results.
type finiteJSON struct{ v any }

func (f finiteJSON) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(f.v)
	var unsupported *json.UnsupportedValueError
	if !errors.As(err, &unsupported) {
		return b, err
	}
	var buf bytes.Buffer
	err = encodeFinite(&buf, reflect.ValueOf(f.v))
	return buf.Bytes(), err
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// encodeFinite is encoding/json's encoding of v for the types results are
// made of, with non-finite numbers as null.
func encodeFinite(w *bytes.Buffer, v reflect.Value) error {
	if !v.IsValid() {
		w.WriteString("null")
		return nil
	}
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
		w.WriteString("null")
		return nil
	}
	if v.Type().Implements(marshalerType) || v.Type().Implements(textMarshalerType) {
		b, err := json.Marshal(v.Interface())
		w.Write(b)
		return err
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			w.WriteString("null")
			return nil
		}
	case reflect.Pointer, reflect.Interface:
		return encodeFinite(w, v.Elem())
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && (v.IsNil() || v.Type().Elem().Kind() == reflect.Uint8) {
			break
		}
		w.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := encodeFinite(w, v.Index(i)); err != nil {
				return err
			}
		}
		w.WriteByte(']')
		return nil
	case reflect.Map:
		if v.IsNil() {
			break
		}
		keys := v.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = fmt.Sprint(k.Interface())
		}
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return names[order[a]] < names[order[b]] })
		w.WriteByte('{')
		for n, i := range order {
			if n > 0 {
				w.WriteByte(',')
			}
			k, _ := json.Marshal(names[i])
			w.Write(k)
			w.WriteByte(':')
			if err := encodeFinite(w, v.MapIndex(keys[i])); err != nil {
				return err
			}
		}
		w.WriteByte('}')
		return nil
	case reflect.Struct:
		w.WriteByte('{')
		first := true
		if err := encodeFields(w, v, &first, map[string]bool{}); err != nil {
			return err
		}
		w.WriteByte('}')
		return nil
	}
	b, err := json.Marshal(v.Interface())
	w.Write(b)
	return err
}

// encodeFields writes a struct's fields as encoding/json names them, the
// fields of embedded structs inline; seen holds the names written.
func encodeFields(w *bytes.Buffer, v reflect.Value, first *bool, seen map[string]bool) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if err := encodeFields(w, fv, first, seen); err != nil {
					return err
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if seen[name] || strings.Contains(opts, "omitempty") && isEmptyValue(fv) {
			continue
		}
		seen[name] = true
		if !*first {
			w.WriteByte(',')
		}
		*first = false
		k, _ := json.Marshal(name)
		w.Write(k)
		w.WriteByte(':')
		if err := encodeFinite(w, fv); err != nil {
			return err
		}
	}
	return nil
}

// isEmptyValue is encoding/json's test for omitempty.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Struct:
		return false
	}
	return v.IsZero()
}
