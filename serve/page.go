package serve

import (
	"net/http"

	"github.com/lenetkit/lenetkit/serve/web"
)

// page serves the drawing page, package web's.
func (s *Server) page(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	_, err := w.Write(web.Page)
	return err
}
