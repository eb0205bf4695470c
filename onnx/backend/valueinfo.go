package backend

import (
	"fmt"
	"maps"
	"slices"
)

// staleValueInfo lists the graph's declared intermediate shapes (value
// info) that hold another number of elements per image than the values
// the plan computes: left from before an edit of the graph (a pruned
// layer), they make ONNX Runtime's shape inference refuse the file
// ("Dimension mismatch in unification"), where the plan goes by what the
// nodes compute. A declared size that is symbolic, or a value the plan
// fused away, is not compared; the first axis of a run-time value is its
// batch, which the plan computes one image at a time.
func (c *compiler) staleValueInfo() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(c.g.ValueInfo)) {
		decl, v := c.g.ValueInfo[name], c.vals[name]
		if v == nil || decl.Dims == nil || len(decl.Dims) != len(v.shape) || len(v.shape) == 0 {
			continue
		}
		dims, got := decl.Dims, v.shape
		if v.c == nil {
			dims, got = dims[1:], got[1:]
		}
		want, have := int64(1), int64(1)
		for i, d := range dims {
			if d < 0 {
				want = -1
				break
			}
			want, have = want*d, have*int64(got[i])
		}
		if want >= 0 && want != have {
			out = append(out, fmt.Sprintf("value %q is declared %s; its nodes compute %v", name, decl, v.shape))
		}
	}
	return out
}
