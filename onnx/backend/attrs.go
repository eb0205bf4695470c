package backend

import (
	"fmt"

	"gorgonia.org/tensor"
)

// attrs are one node's attributes as onnx-go decoded them: int64, float32,
// string, []int64, []float32 or a tensor.
type attrs map[string]any

func (a attrs) int(name string, def int64) (int64, error) {
	v, ok := a[name]
	if !ok {
		return def, nil
	}
	i, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("attribute %s is %T, expected an integer", name, v)
	}
	return i, nil
}

func (a attrs) float(name string, def float32) (float32, error) {
	v, ok := a[name]
	if !ok {
		return def, nil
	}
	f, ok := v.(float32)
	if !ok {
		return 0, fmt.Errorf("attribute %s is %T, expected a float", name, v)
	}
	return f, nil
}

func (a attrs) ints(name string) ([]int64, error) {
	v, ok := a[name]
	if !ok {
		return nil, nil
	}
	i, ok := v.([]int64)
	if !ok {
		return nil, fmt.Errorf("attribute %s is %T, expected integers", name, v)
	}
	return i, nil
}

func (a attrs) str(name, def string) (string, error) {
	v, ok := a[name]
	if !ok {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("attribute %s is %T, expected a string", name, v)
	}
	return s, nil
}

// constant returns a Constant node's value, whichever attribute holds it.
func (a attrs) constant() (*constant, error) {
	switch {
	case a["value"] != nil:
		t, ok := a["value"].(tensor.Tensor)
		if !ok {
			return nil, fmt.Errorf("attribute value is %T, expected a tensor", a["value"])
		}
		return fromTensor(t)
	case a["value_float"] != nil:
		f, err := a.float("value_float", 0)
		return &constant{f: []float32{f}}, err
	case a["value_floats"] != nil:
		f, ok := a["value_floats"].([]float32)
		if !ok {
			return nil, fmt.Errorf("attribute value_floats is %T", a["value_floats"])
		}
		return &constant{shape: []int{len(f)}, f: f}, nil
	case a["value_int"] != nil:
		i, err := a.int("value_int", 0)
		return &constant{i: []int64{i}}, err
	case a["value_ints"] != nil:
		i, err := a.ints("value_ints")
		return &constant{shape: []int{len(i)}, i: i}, err
	}
	return nil, fmt.Errorf("a Constant without a value this backend reads")
}

func toInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}
