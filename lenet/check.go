package lenet

import (
	"fmt"
	"strings"
)

// Check compares a state dict with the network the way PyTorch's strict
// load_state_dict does, and reports every missing key, unexpected key and
// shape or dtype mismatch in one error.
func Check(sd StateDict) error {
	want := Params()
	known := make(map[string]Param, len(want))
	for _, p := range want {
		known[p.Name] = p
	}
	var missing, unexpected, mismatched []string
	seen := make(map[string]bool, len(sd))
	for _, t := range sd {
		if seen[t.Name] {
			unexpected = append(unexpected, t.Name+" (duplicate)")
			continue
		}
		seen[t.Name] = true
		p, ok := known[t.Name]
		if !ok {
			unexpected = append(unexpected, t.Name)
			continue
		}
		if !equalShape(p.Shape, t.Shape) || p.DType != t.DType {
			mismatched = append(mismatched, fmt.Sprintf("%s: expected %s %s, found %s %s",
				t.Name, p.DType, shapeString(p.Shape), t.DType, shapeString(t.Shape)))
			continue
		}
		if n := t.NumElements(); (t.DType == Float32 && len(t.F32) != n) || (t.DType == Int64 && len(t.I64) != n) {
			mismatched = append(mismatched, fmt.Sprintf("%s: shape %s needs %d elements, has %d",
				t.Name, shapeString(t.Shape), n, len(t.F32)+len(t.I64)))
		}
	}
	for _, p := range want {
		if !seen[p.Name] {
			missing = append(missing, p.Name)
		}
	}
	if len(missing)+len(unexpected)+len(mismatched) == 0 {
		return nil
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing keys: "+strings.Join(missing, ", "))
	}
	if len(unexpected) > 0 {
		parts = append(parts, "unexpected keys: "+strings.Join(unexpected, ", "))
	}
	if len(mismatched) > 0 {
		parts = append(parts, "size mismatch: "+strings.Join(mismatched, "; "))
	}
	return fmt.Errorf("not a LeNet state dict: %s", strings.Join(parts, "; "))
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
