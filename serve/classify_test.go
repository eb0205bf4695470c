package serve_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/serve"
)

// multipartBody is a form of files, each a file part named "image".
func multipartBody(t testing.TB, files map[string][]byte, order []string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("note", "a field that is no file is left alone")
	for _, name := range order {
		fw, err := w.CreateFormFile("image", name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(files[name])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.Bytes()
}

// TestClassify sends digit pictures to /v1/classify as a form and as a
// body, and checks each answer against the picture's true digit and
// against the probabilities infer's own preparation and run give.
func TestClassify(t *testing.T) {
	letters := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	_, ts := newTestServer(t, serve.Options{},
		serve.ModelSpec{Name: "lenet", Path: trainedPTH},
		serve.ModelSpec{Name: "cnn28", Path: cnn28ONNX, Labels: letters})
	digits := cleanDigits(t)
	files := map[string][]byte{}
	var order []string
	for _, d := range digits {
		files[d.file] = d.png
		order = append(order, d.file)
	}
	m, err := infer.Open(trainedPTH, "")
	if err != nil {
		t.Fatal(err)
	}
	// wantP is infer's way: the digit, padded, Logits, softmax.
	wantP := func(pic []byte) []float64 {
		logits := make([]float32, 10)
		if err := m.Logits(logits, digitInput(t, pic, 32), 1); err != nil {
			t.Fatal(err)
		}
		return softmax(logits)
	}
	ct, form := multipartBody(t, files, order)
	cases := []struct {
		name, query, contentType string
		body                     []byte
		model                    string
		files                    []string
		labels                   []string // nil: the class numbers
		top                      int
		preview                  bool
		infer                    bool // compare with infer's probabilities
	}{
		{name: "a form of every picture", query: "", contentType: ct, body: form, model: "lenet", files: order, top: 3, infer: true},
		{name: "one picture as the body", query: "?top=10&preview=1", contentType: "image/png", body: digits[0].png, model: "lenet",
			files: []string{"body"}, top: 10, preview: true, infer: true},
		{name: "another model, its labels", query: "?model=cnn28&top=1&invert=auto", body: digits[1].png, model: "cnn28",
			files: []string{"body"}, labels: letters, top: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := call(t, ts, "POST", "/v1/classify"+c.query, c.contentType, c.body)
			if a.status != http.StatusOK {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			var r classifyAnswer
			a.decode(t, &r)
			if r.Model != c.model || len(r.Results) != len(c.files) {
				t.Fatalf("model %q, %d results; want %q, %d", r.Model, len(r.Results), c.model, len(c.files))
			}
			for i, res := range r.Results {
				pic := files[c.files[i]]
				if c.files[i] == "body" {
					pic = c.body
				}
				var d cleanDigit
				for _, dd := range digits {
					if bytes.Equal(dd.png, pic) {
						d = dd
					}
				}
				label := strconv.Itoa(d.label)
				if c.labels != nil {
					label = c.labels[d.label]
				}
				if res.File != c.files[i] || res.Class != d.label || res.Label != label {
					t.Errorf("result %d: file %q class %d label %q; want %q, %d, %q", i, res.File, res.Class, res.Label, c.files[i], d.label, label)
				}
				if len(res.Probabilities) != 10 || res.Probability != res.Probabilities[res.Class] {
					t.Fatalf("%s: probability %g, probabilities %v", res.File, res.Probability, res.Probabilities)
				}
				sum := 0.0
				for _, p := range res.Probabilities {
					sum += p
					if p > res.Probability {
						t.Errorf("%s: class %d is not the most probable", res.File, res.Class)
					}
				}
				if math.Abs(sum-1) > 1e-9 {
					t.Errorf("%s: probabilities sum to %g", res.File, sum)
				}
				if len(res.Top) != c.top || res.Top[0].Class != res.Class || res.Top[0].Label != res.Label {
					t.Errorf("%s: top %+v, want %d entries from class %d", res.File, res.Top, c.top, res.Class)
				}
				for k := 1; k < len(res.Top); k++ {
					if res.Top[k].Probability > res.Top[k-1].Probability || res.Top[k].Probability != res.Probabilities[res.Top[k].Class] {
						t.Errorf("%s: top %+v not in order of the probabilities", res.File, res.Top)
					}
				}
				if (res.Probability < infer.LowConfidence) != slices.Contains(res.Flags, "low-confidence") {
					t.Errorf("%s: probability %g, flags %v", res.File, res.Probability, res.Flags)
				}
				if c.infer {
					for k, p := range wantP(pic) {
						if math.Abs(p-res.Probabilities[k]) > 1e-6 {
							t.Fatalf("%s: probability of %d is %g, infer gives %g", res.File, k, res.Probabilities[k], p)
						}
					}
				}
				if !c.preview {
					if res.Image != "" {
						t.Errorf("%s: an image without preview=1", res.File)
					}
					continue
				}
				b64, ok := strings.CutPrefix(res.Image, "data:image/png;base64,")
				raw, err := base64.StdEncoding.DecodeString(b64)
				if !ok || err != nil {
					t.Fatalf("image %.40q is no PNG data: URL (%v)", res.Image, err)
				}
				img, err := png.Decode(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				g, ok := img.(*image.Gray)
				if !ok || g.Bounds().Dx() != 28 || g.Bounds().Dy() != 28 {
					t.Fatalf("preview is %T of %v, want 28x28 grey", img, img.Bounds())
				}
				// It is the digit the model saw: its 32x32 input's centre.
				x := digitInput(t, pic, 28)
				for i, v := range g.Pix {
					if math.Abs(float64(v)/255-float64(x[i])) > 1e-6 {
						t.Fatalf("preview pixel %d is %d, the input %g", i, v, x[i])
					}
				}
			}
		})
	}
}

// TestClassifyFlags: a picture of "42" is flagged as several marks, with
// the low confidence such pictures get, as infer flags it.
func TestClassifyFlags(t *testing.T) {
	_, ts := newTestServer(t, serve.Options{})
	pic, err := os.ReadFile(testtool.Testdata("images/nondigits/42.png"))
	if err != nil {
		t.Fatal(err)
	}
	a := call(t, ts, "POST", "/v1/classify", "", pic)
	var r classifyAnswer
	a.decode(t, &r)
	if a.status != http.StatusOK || len(r.Results) != 1 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if f := r.Results[0].Flags; !slices.Contains(f, "several-components") {
		t.Errorf("flags %v, want several-components", f)
	}
	a = call(t, ts, "POST", "/v1/classify", "", cleanDigits(t)[0].png)
	if bytes.Contains(a.body, []byte(`"flags"`)) {
		t.Errorf("a clean digit's answer has flags: %s", a.body)
	}
}

// TestClassifyFormSomeFail: a form's files that cannot be classified (not
// an image, no digit, empty) are answered among the others, in the form's
// order, each with its error and status, and the request is a 200; when
// none can be, the request fails with the first one's status and error.
func TestClassifyFormSomeFail(t *testing.T) {
	_, ts := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "lenet", Path: trainedPTH})
	digits := cleanDigits(t)
	blank := image.NewGray(image.Rect(0, 0, 28, 28))
	var blankPNG bytes.Buffer
	png.Encode(&blankPNG, blank)
	files := map[string][]byte{"two.png": digits[1].png, "notes.png": []byte("not a picture"), "blank.png": blankPNG.Bytes(),
		"empty.png": nil, "seven.png": digits[0].png}
	order := []string{"notes.png", "two.png", "blank.png", "empty.png", "seven.png"}
	ct, form := multipartBody(t, files, order)
	a := call(t, ts, "POST", "/v1/classify", ct, form)
	var r classifyAnswer
	a.decode(t, &r)
	if a.status != http.StatusOK || len(r.Results) != len(order) {
		t.Fatalf("status %d, %d results; want 200 and %d: %s", a.status, len(r.Results), len(order), a.body)
	}
	want := []struct {
		status int
		text   string
		class  int
	}{
		{415, `image "notes.png": not a PNG, JPEG, GIF or BMP image`, 0},
		{0, "", digits[1].label},
		{422, `image "blank.png": blank image: no digit found`, 0},
		{400, `image "empty.png" is empty`, 0},
		{0, "", digits[0].label},
	}
	for i, res := range r.Results {
		w := want[i]
		switch {
		case res.File != order[i]:
			t.Errorf("result %d is %q, want %q: the form's order", i, res.File, order[i])
		case w.status != 0 && (res.Status != w.status || !strings.Contains(res.Error, w.text) || res.Probabilities != nil):
			t.Errorf("%s: status %d, error %q, probabilities %v; want %d, %q and no scores", res.File, res.Status, res.Error, res.Probabilities, w.status, w.text)
		case w.status == 0 && (res.Error != "" || res.Status != 0 || res.Class != w.class || len(res.Probabilities) != 10):
			t.Errorf("%s: %+v, want class %d and no error", res.File, res, w.class)
		}
	}

	ct, form = multipartBody(t, files, []string{"blank.png", "notes.png"})
	a = call(t, ts, "POST", "/v1/classify", ct, form)
	var e struct{ Error string }
	a.decode(t, &e)
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(e.Error, `image "blank.png": blank image`) {
		t.Errorf("a form of no classifiable file: status %d, %q; want 422 and the first file's error", a.status, e.Error)
	}
}

// TestFileClassNames: a model file that names its classes (as lenetkit
// train writes them) is answered by those names unless the spec gives
// labels; /v1/classify's label is the name.
func TestFileClassNames(t *testing.T) {
	named := testtool.WithMetadata(t, cnn28ONNX, onnx.MetaClasses, `["zero","one","two","three","four","five","six","seven","eight","nine"]`)
	_, ts := newTestServer(t, serve.Options{},
		serve.ModelSpec{Name: "named", Path: named},
		serve.ModelSpec{Name: "given", Path: named, Labels: strings.Split("abcdefghij", "")})
	var list struct {
		Models []struct{ Labels []string }
	}
	call(t, ts, "GET", "/v1/models", "", nil).decode(t, &list)
	if len(list.Models) != 2 || list.Models[0].Labels[7] != "seven" || list.Models[1].Labels[7] != "h" {
		t.Errorf("labels %+v: want the file's names, then the spec's", list.Models)
	}
	d := cleanDigits(t)[0]
	var r struct {
		Results []struct {
			Class int
			Label string
		}
	}
	call(t, ts, "POST", "/v1/classify?model=named", "", d.png).decode(t, &r)
	want := strings.Split("zero one two three four five six seven eight nine", " ")[d.label]
	if len(r.Results) != 1 || r.Results[0].Class != d.label || r.Results[0].Label != want {
		t.Errorf("digit %d answered %+v, want class %d labelled %q", d.label, r.Results, d.label, want)
	}
}

// TestListModels: GET /v1/models lists every model, the default first,
// with what the drawing page shows of it.
func TestListModels(t *testing.T) {
	_, ts := newTestServer(t, serve.Options{},
		serve.ModelSpec{Name: "cnn28", Path: cnn28ONNX, Labels: strings.Split("abcdefghij", "")},
		serve.ModelSpec{Name: "lenet", Path: trainedPTH})
	a := call(t, ts, "GET", "/v1/models", "", nil)
	var got any
	a.decode(t, &got)
	var want any
	json.Unmarshal([]byte(`{"models":[
		{"name":"cnn28","classes":10,"labels":["a","b","c","d","e","f","g","h","i","j"],"input":[1,28,28],"ready":true},
		{"name":"lenet","classes":10,"labels":["0","1","2","3","4","5","6","7","8","9"],"input":[1,32,32],"ready":true}]}`), &want)
	if a.status != http.StatusOK || !reflect.DeepEqual(got, want) {
		t.Errorf("status %d, %s", a.status, a.body)
	}
}
