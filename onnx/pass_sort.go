package onnx

import "github.com/lenetkit/lenetkit/modelfile"

// SortNodes puts the graph's nodes in a topological order, as ONNX
// Runtime does for files whose nodes are out of order (keras2onnx 1.5.1
// writes them so), and sets Reordered when it moved any. Among nodes whose
// inputs are ready, the one earliest in the file comes first, so a file
// already in order keeps it. A cycle is refused, naming a node on it.
func SortNodes(g *Graph) error {
	producer := map[string]int{}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				producer[o] = i
			}
		}
	}
	indegree := make([]int, len(g.Nodes))
	users := make([][]int, len(g.Nodes))
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			if j, ok := producer[in]; ok && in != "" {
				if j == i {
					return modelfile.FormatErrorf("%s takes %q, its own output: a self-loop", n.Describe(), in)
				}
				indegree[i]++
				users[j] = append(users[j], i)
			}
		}
	}
	// A min-heap of ready nodes by file position keeps the order stable.
	ready := &intHeap{}
	for i, d := range indegree {
		if d == 0 {
			ready.push(i)
		}
	}
	order := make([]*Node, 0, len(g.Nodes))
	for ready.len() > 0 {
		i := ready.pop()
		order = append(order, g.Nodes[i])
		for _, u := range users[i] {
			if indegree[u]--; indegree[u] == 0 {
				ready.push(u)
			}
		}
	}
	if len(order) < len(g.Nodes) {
		for i, d := range indegree {
			if d > 0 {
				return modelfile.FormatErrorf("%s depends on its own output through other nodes: the graph has a cycle", g.Nodes[i].Describe())
			}
		}
	}
	for i, n := range order {
		if n != g.Nodes[i] {
			g.Reordered = true
			break
		}
	}
	g.Nodes = order
	return nil
}

type intHeap struct{ v []int }

func (h *intHeap) len() int { return len(h.v) }

func (h *intHeap) push(x int) {
	h.v = append(h.v, x)
	for i := len(h.v) - 1; i > 0; {
		p := (i - 1) / 2
		if h.v[p] <= h.v[i] {
			break
		}
		h.v[p], h.v[i] = h.v[i], h.v[p]
		i = p
	}
}

func (h *intHeap) pop() int {
	top := h.v[0]
	last := len(h.v) - 1
	h.v[0] = h.v[last]
	h.v = h.v[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.v[l] < h.v[m] {
			m = l
		}
		if r < last && h.v[r] < h.v[m] {
			m = r
		}
		if m == i {
			break
		}
		h.v[i], h.v[m] = h.v[m], h.v[i]
		i = m
	}
	return top
}
