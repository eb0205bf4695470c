package serve_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image/png"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/serve"
)

// pageShotEnv names where TestDrawSevenInBrowser writes its screenshot,
// a relative path taken from the repository's root:
//
//	LENETKIT_SCREENSHOT=docs/serve-page.png go test ./serve -run DrawSeven
//
// Without it the screenshot goes to a temporary directory.
const pageShotEnv = "LENETKIT_SCREENSHOT"

// browserServer serves testdata/lenet_trained.pth as "lenet" and returns the
// server's URL.
func browserServer(t *testing.T) string {
	t.Helper()
	srv, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: "../testdata/lenet_trained.pth"}}, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestDrawSevenInBrowser opens the page of lenetkit serve in headless
// Chromium, draws a 7 on its canvas with the mouse as a person would, and
// checks the answer, the bars of the ten digits and the image the model saw;
// then it classifies two of testdata's images through the file input. The
// page must ask nothing of any other origin. CI installs Debian's chromium;
// elsewhere the test skips without it.
func TestDrawSevenInBrowser(t *testing.T) {
	testtool.SkipShort(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		testtool.Missing(t, "chromium not found (Debian: apt-get install chromium); the page is not checked in a browser")
	}
	start := time.Now()
	base := browserServer(t)
	drivePage(t, chromium, base)
	t.Logf("server, browser and page in %v", time.Since(start).Round(time.Millisecond))
}

// pageSeen is what the test reads of the page after an answer.
type pageSeen struct {
	Answer     string    `json:"answer"`
	Confidence string    `json:"confidence"`
	Note       string    `json:"note"`
	Labels     []string  `json:"labels"`
	Probs      []float64 `json:"probs"`
	Top        []bool    `json:"top"`
	Preview    string    `json:"preview"`
	Models     []string  `json:"models"`
	Canvas     pageRect  `json:"canvas"`
}

type pageRect struct{ X, Y, W, H float64 }

type pageDrop struct {
	File   string `json:"file"`
	Answer string `json:"answer"`
	Seen   string `json:"seen"`
	Failed bool   `json:"failed"`
}

const pageSeenJS = `(() => {
	const $ = (id) => document.getElementById(id);
	const bars = [...document.querySelectorAll("#bars .bar")];
	const r = $("pad").getBoundingClientRect();
	return {
		answer: $("answer").textContent,
		confidence: $("confidence").textContent,
		note: $("note").textContent,
		labels: bars.map((b) => b.querySelector(".bar-label").textContent),
		probs: bars.map((b) => Number(b.dataset.p)),
		top: bars.map((b) => b.classList.contains("top")),
		preview: $("preview").getAttribute("src") || "",
		models: [...$("model").options].map((o) => o.value),
		canvas: {X: r.left, Y: r.top, W: r.width, H: r.height},
	};
})()`

const pageDropsJS = `[...document.querySelectorAll("#drops .result")].map((li) => ({
	file: li.querySelector(".result-file").textContent,
	answer: li.querySelector(".result-answer").textContent,
	seen: li.querySelector("img.seen").getAttribute("src") || "",
	failed: li.classList.contains("failed"),
}))`

func drivePage(t *testing.T, chromium, base string) {
	dir := t.TempDir()
	// One bound for everything the browser does, its start included.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Env("HOME="+dir), // chromium keeps caches under HOME
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()

	// Every request the page makes, and every exception it throws.
	var mu sync.Mutex
	var requests, exceptions []string
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.Method+" "+ev.Request.URL)
		case *runtime.EventExceptionThrown:
			exceptions = append(exceptions, pageException(ev.ExceptionDetails))
		}
	}))
	defer cancelBrowser()

	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	started := time.Now()
	run("open the page", chromedp.EmulateViewport(1100, 900), chromedp.Navigate(base+"/"))
	if title, err := chromedp.Run(bctx, chromedp.Title()); err != nil || title != "lenetkit — draw a digit" {
		t.Fatalf("the server's / is titled %q (%v), want the drawing page's title", title, err)
	}
	run("list the models",
		// the models listed, the selector enabled
		chromedp.Poll[chromedp.Void](`!document.getElementById("model").disabled`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	t.Logf("browser started and page loaded in %v", time.Since(started).Round(time.Millisecond))

	st := readPage(t, bctx)
	if len(st.Models) != 1 || st.Models[0] != "lenet" {
		t.Errorf("the model selector offers %q, want [lenet]", st.Models)
	}
	if st.Answer != "" {
		t.Errorf("the page answers %q before anything is drawn", st.Answer)
	}
	c := st.Canvas
	if c.W < 100 || c.H < 100 {
		t.Fatalf("the canvas is %gx%g CSS pixels", c.W, c.H)
	}

	// A 7: a top bar from left to right, then the diagonal down to the
	// bottom left, in one stroke as a hand draws it, with real mouse
	// events. Points are fractions of the canvas.
	at := func(fx, fy float64) (float64, float64) { return c.X + fx*c.W, c.Y + fy*c.H }
	held := func(p *input.DispatchMouseEventParams) { p.Button, p.Buttons = input.MouseButtonLeft, 1 }
	var stroke []chromedp.Action[chromedp.Void]
	x, y := at(0.25, 0.22)
	stroke = append(stroke, chromedp.MouseEvent(chromedp.MouseMoved, x, y))
	stroke = append(stroke, chromedp.MouseEvent(chromedp.MousePressed, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	line := func(x0, y0, x1, y1 float64, n int) {
		for i := 1; i <= n; i++ {
			f := float64(i) / float64(n)
			x, y := at(x0+f*(x1-x0), y0+f*(y1-y0))
			stroke = append(stroke, chromedp.MouseEvent(chromedp.MouseMoved, x, y, held))
		}
	}
	line(0.25, 0.22, 0.75, 0.20, 12) // the top bar
	line(0.75, 0.20, 0.45, 0.82, 16) // the diagonal
	x, y = at(0.45, 0.82)
	stroke = append(stroke, chromedp.MouseEvent(chromedp.MouseReleased, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	drawn := time.Now()
	run("draw a 7", stroke...)
	// The answer to the whole digit: the request pointerup sent, or the
	// last one the drawing queued, has come back.
	run("wait for the answer", chromedp.Poll[chromedp.Void](
		`document.body.dataset.state === "idle" && document.getElementById("answer").textContent !== ""`,
		chromedp.WithPollingTimeout(20*time.Second)))
	t.Logf("drawn and answered in %v", time.Since(drawn).Round(time.Millisecond))

	st = readPage(t, bctx)
	if st.Answer != "7" {
		t.Errorf("the page answers %q for the 7 drawn (%s, note %q), want 7", st.Answer, st.Confidence, st.Note)
	}
	if !strings.HasSuffix(st.Confidence, "%") {
		t.Errorf("the answer's probability reads %q, want a percentage", st.Confidence)
	}
	checkPageBars(t, st)
	if !strings.HasPrefix(st.Preview, "data:image/png;base64,") || len(st.Preview) < 100 {
		t.Errorf("the preview of the model's input is %.60q, want a data: URL of a PNG", st.Preview)
	}

	// Files, through the drop zone's file input: the model's answer for
	// each appears among the results, and a file that is no picture
	// shows its error among them.
	labels := cleanFileLabels(t)
	var files []string
	for _, name := range []string{"00003.png", "00001.png"} {
		p, err := filepath.Abs(filepath.Join("..", "testdata", "images", "clean", name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	notes := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(notes, []byte("not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("choose files",
		chromedp.SetUploadFiles(chromedp.ID("files"), append(slices.Clone(files), notes)),
		chromedp.Poll[chromedp.Void](
			`document.getElementById("drops").dataset.state === "idle" && document.querySelectorAll("#drops .result").length >= 3`,
			chromedp.WithPollingTimeout(20*time.Second)),
	)
	drops, err := chromedp.Run(bctx, chromedp.Evaluate[[]pageDrop](pageDropsJS))
	if err != nil {
		t.Fatalf("read the files' results: %v", err)
	}
	if len(drops) != len(files)+1 {
		t.Errorf("%d results for %d files: %+v", len(drops), len(files)+1, drops)
	}
	var failed []pageDrop
	for _, d := range drops {
		if d.Failed {
			failed = append(failed, d)
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0].File, "notes.png") || !strings.Contains(failed[0].Answer, "not a PNG, JPEG, GIF or BMP image") {
		t.Errorf("the file that is no picture: failed results %+v, want notes.png's error alone", failed)
	}
	status, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("drop-status").textContent`))
	if err != nil || status != "3 files: 2 classified by lenet, 1 not (below)." {
		t.Errorf("the drop zone says %q (%v), want the count of each", status, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		var got *pageDrop
		for i := range drops {
			if strings.HasPrefix(drops[i].File, name) {
				got = &drops[i]
			}
		}
		switch {
		case got == nil:
			t.Errorf("no result shows %s: %+v", name, drops)
		case got.Answer != labels[name]:
			t.Errorf("%s: the page shows %q, want its label %q", name, got.Answer, labels[name])
		case !strings.HasPrefix(got.Seen, "data:image/png;base64,"):
			t.Errorf("%s: the model's input is shown from %.40q, want a data: URL", name, got.Seen)
		}
	}

	shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	checkPageShot(t, shot, st.Canvas)
	out := filepath.Join(dir, "serve-page.png")
	if p := os.Getenv(pageShotEnv); p != "" {
		out = p
		if !filepath.IsAbs(p) {
			out = filepath.Join("..", p)
		}
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)

	mu.Lock()
	defer mu.Unlock()
	for _, e := range exceptions {
		t.Errorf("the page threw: %s", e)
	}
	checkPageRequests(t, base, requests)
}

func readPage(t *testing.T, ctx context.Context) pageSeen {
	t.Helper()
	st, err := chromedp.Run(ctx, chromedp.Evaluate[pageSeen](pageSeenJS))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	return st
}

// checkPageBars wants a bar for each digit, labelled 0 to 9, the probabilities
// summing to 1 and the 7's the highest, marked as the answer.
func checkPageBars(t *testing.T, st pageSeen) {
	t.Helper()
	if len(st.Probs) != 10 {
		t.Fatalf("%d probability bars, want 10", len(st.Probs))
	}
	sum, best := 0.0, 0
	for i, p := range st.Probs {
		if want := fmt.Sprint(i); st.Labels[i] != want {
			t.Errorf("bar %d is labelled %q, want %q", i, st.Labels[i], want)
		}
		if p < 0 || p > 1 || math.IsNaN(p) {
			t.Errorf("bar %d: probability %g", i, p)
		}
		sum += p
		if p > st.Probs[best] {
			best = i
		}
		if st.Top[i] != (i == 7) {
			t.Errorf("bar %d marked as the answer: %v", i, st.Top[i])
		}
	}
	if math.Abs(sum-1) > 1e-3 {
		t.Errorf("the bars' probabilities sum to %g, want 1", sum)
	}
	if best != 7 {
		t.Errorf("the longest bar is %d's, want 7's: %v", best, st.Probs)
	}
}

// checkPageShot wants a page that is not blank, and the canvas, at c in
// CSS pixels, holding the ink drawn: some dark pixels, far from all.
func checkPageShot(t *testing.T, shot []byte, c pageRect) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != 1100 || b.Dy() != 900 {
		t.Errorf("screenshot is %dx%d, want 1100x900", b.Dx(), b.Dy())
	}
	dark := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return (299*r+587*g+114*bl)/1000>>8 < 96
	}
	var page, ink, area int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if dark(x, y) {
				page++
			}
		}
	}
	// inside the canvas's border
	for y := int(c.Y) + 4; y < int(c.Y+c.H)-4; y++ {
		for x := int(c.X) + 4; x < int(c.X+c.W)-4; x++ {
			area++
			if dark(x, y) {
				ink++
			}
		}
	}
	if ink < area/40 || ink > area/3 {
		t.Errorf("%d of the canvas's %d pixels are dark: want the 7 drawn on white", ink, area)
	}
	if page-ink < 2000 {
		t.Errorf("%d dark pixels outside the canvas: the page's text and answer are missing", page-ink)
	}
}

// checkPageRequests wants every request the page made to be to its own server,
// or of data the page holds; and the two routes to have been asked.
func checkPageRequests(t *testing.T, base string, requests []string) {
	t.Helper()
	var models, classify int
	for _, r := range requests {
		_, u, _ := strings.Cut(r, " ")
		switch {
		case strings.HasPrefix(u, base+"/"):
			if strings.HasPrefix(u, base+"/v1/models") {
				models++
			}
			if strings.HasPrefix(r, "POST "+base+"/v1/classify?") {
				classify++
			}
		case strings.HasPrefix(u, "data:"), strings.HasPrefix(u, "blob:"+base+"/"):
		default:
			t.Errorf("the page asked another origin: %s", r)
		}
	}
	if models == 0 || classify < 2 {
		t.Errorf("the browser saw %d requests of GET /v1/models and %d of POST /v1/classify, want 1 and 2 or more: %q", models, classify, requests)
	}
	t.Logf("%d requests, %d of them classify", len(requests), classify)
}

// cleanFileLabels reads testdata/images/clean/labels.csv: file name to label.
func cleanFileLabels(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "images", "clean", "labels.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range rows[1:] {
		m[r[0]] = r[1]
	}
	return m
}

func pageException(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "?"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (line %d)", s, d.LineNumber)
}
