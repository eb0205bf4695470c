package serve_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/serve"
)

// replaceFile puts src's content at dst as a deploy would: written aside,
// then renamed over.
func replaceFile(t testing.TB, dst string, content []byte) {
	t.Helper()
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testtool.Testdata(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReload swaps another model's file in and reloads: the new model
// answers, as a server started on that file does. Then a damaged file:
// Reload fails, naming the model, and the model before it goes on
// answering. Requests run all along, and every one is answered.
func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.onnx")
	replaceFile(t, path, readTestdata(t, "onnx/seed_view.onnx"))
	s, ts := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "m", Path: path})
	_, fresh := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "m", Path: cnn28ONNX})
	pic := cleanDigits(t)[2]

	classify := func(ts *httptest.Server) []float64 {
		t.Helper()
		a := call(t, ts, "POST", "/v1/classify", "image/png", pic.png)
		var r classifyAnswer
		a.decode(t, &r)
		if a.status != http.StatusOK || len(r.Results) != 1 || r.Results[0].Class != pic.label {
			t.Fatalf("status %d %s; want class %d", a.status, a.body, pic.label)
		}
		return r.Results[0].Probabilities
	}
	shape := func() []int {
		t.Helper()
		var meta struct {
			Inputs []struct{ Shape []int }
		}
		call(t, ts, "GET", "/v2/models/m", "", nil).decode(t, &meta)
		return meta.Inputs[0].Shape
	}

	// Requests all along: none may fail, whatever the reloads do.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if a := call(t, ts, "POST", "/v1/classify", "image/png", pic.png); a.status != http.StatusOK {
					t.Errorf("during a reload: status %d %s", a.status, a.body)
					return
				}
			}
		}()
	}

	before := classify(ts)
	if got := shape(); !reflect.DeepEqual(got, []int{-1, 1, 32, 32}) {
		t.Fatalf("input %v before the reload", got)
	}
	replaceFile(t, path, readTestdata(t, "onnx/cnn28.onnx"))
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	after := classify(ts)
	if got := shape(); !reflect.DeepEqual(got, []int{-1, 1, 28, 28}) {
		t.Errorf("input %v after the reload, want cnn28's [-1 1 28 28]", got)
	}
	if reflect.DeepEqual(after, before) {
		t.Errorf("the same probabilities after the reload: the old model answered")
	}
	if want := classify(fresh); !reflect.DeepEqual(after, want) {
		t.Errorf("after the reload %v; a server started on the file gives %v", after, want)
	}

	replaceFile(t, path, []byte("this is not a model"))
	err := s.Reload()
	var le *serve.LoadError
	if !errors.As(err, &le) || le.Name != "m" || le.Path != path {
		t.Fatalf("Reload of a damaged file: %v, want a LoadError of model m", err)
	}
	t.Logf("a damaged file: %v", err)
	if got := classify(ts); !reflect.DeepEqual(got, after) {
		t.Errorf("after a failed reload %v, want the model before it, %v", got, after)
	}
	if got := shape(); !reflect.DeepEqual(got, []int{-1, 1, 28, 28}) {
		t.Errorf("input %v after a failed reload", got)
	}
	close(stop)
	wg.Wait()

	m := metricsOf(t, ts)
	for _, line := range []string{`lenetkit_model_reloads_total{model="m",result="ok"} 1`, `lenetkit_model_reloads_total{model="m",result="failed"} 1`} {
		if !strings.Contains(m, line) {
			t.Errorf("/metrics lacks %s:\n%s", line, grep(m, "reload"))
		}
	}
}

// TestReloadLabels: a model's LabelsPath is read again on Reload, its new
// names taking effect with it; names that do not read, or of another
// count than the classes, keep the old model and names.
func TestReloadLabels(t *testing.T) {
	dir := t.TempDir()
	labels := filepath.Join(dir, "labels.txt")
	names := func(prefix string) []byte {
		var b strings.Builder
		for i := range 10 {
			fmt.Fprintf(&b, "%s%d\n", prefix, i)
		}
		return []byte(b.String())
	}
	replaceFile(t, labels, names("digit "))
	s, ts := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "m", Path: cnn28ONNX, LabelsPath: labels})
	pic := cleanDigits(t)[2]
	label := func() string {
		t.Helper()
		var r classifyAnswer
		a := call(t, ts, "POST", "/v1/classify", "image/png", pic.png)
		a.decode(t, &r)
		if a.status != http.StatusOK || len(r.Results) != 1 {
			t.Fatalf("status %d %s", a.status, a.body)
		}
		return r.Results[0].Label
	}
	if got, want := label(), fmt.Sprintf("digit %d", pic.label); got != want {
		t.Fatalf("label %q, want %q", got, want)
	}
	replaceFile(t, labels, names("class "))
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	want := fmt.Sprintf("class %d", pic.label)
	if got := label(); got != want {
		t.Errorf("label %q after the reload, want %q", got, want)
	}
	for _, bad := range []string{"one\ntwo\n", "a\n\nb\n"} {
		replaceFile(t, labels, []byte(bad))
		var le *serve.LoadError
		if err := s.Reload(); !errors.As(err, &le) || !strings.Contains(err.Error(), "labels") {
			t.Errorf("Reload with labels %q: %v, want a LoadError about the labels", bad, err)
		}
		if got := label(); got != want {
			t.Errorf("label %q after a failed reload, want the old %q", got, want)
		}
	}
}
