package serve

import "net/http"

// modelInfo is a model as GET /v1/models lists it for the drawing page.
type modelInfo struct {
	Name    string   `json:"name"`
	Classes int      `json:"classes"`
	Labels  []string `json:"labels"`
	Input   []int    `json:"input"` // channels, height, width
	Ready   bool     `json:"ready"`
}

// listModels lists the models, the default (the first) first.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	list := make([]modelInfo, len(s.specs))
	for i, spec := range s.specs {
		m := s.model(spec.Name)
		g := m.m.Input
		list[i] = modelInfo{Name: m.name, Classes: m.m.Classes, Labels: m.labels, Input: []int{g.Channels, g.Height, g.Width}, Ready: !s.closing.Load()}
	}
	return writeJSON(w, http.StatusOK, struct {
		Models []modelInfo `json:"models"`
	}{list})
}
