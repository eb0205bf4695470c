package serve

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/mnist"
)

// ranked is a class and its probability.
type ranked struct {
	Class       int     `json:"class"`
	Label       string  `json:"label"`
	Probability float64 `json:"probability"`
}

// classified is one image's answer from /v1/classify. The drawing page
// reads it: its fields are a contract.
type classified struct {
	File          string    `json:"file"`
	Class         int       `json:"class"`
	Label         string    `json:"label"`
	Probability   float64   `json:"probability"`
	Top           []ranked  `json:"top"`
	Probabilities []float64 `json:"probabilities"`
	Flags         []string  `json:"flags,omitempty"`
	Image         string    `json:"image,omitempty"` // with preview=1: the 28x28 digit the model sees, a PNG data: URL
	// failed is why a file of a multipart request was not classified: its
	// entry is then the file, the error and its status alone.
	failed *httpError
}

// picture is an image of a request, prepared, or why it could not be
// (failed).
type picture struct {
	file   string
	failed *httpError
	digit  *image.Gray
	// colour is a colour model's whole picture, its red, green and blue
	// planes (model.colour), where digit is nil.
	colour []byte
	report digit.Report
}

// classify answers image files with the classes a model gives them, as
// lenetkit infer prepares them: the digit found, cropped, scaled and
// centred as MNIST's were. The body is one image, or multipart/form-data
// whose every file part is one.
func (s *Server) classify(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	m := s.first()
	if name := q.Get("model"); name != "" {
		if m = s.model(name); m == nil {
			return fail(http.StatusNotFound, "no model %q: the models are %s", name, s.names())
		}
	}
	if m.digitPad < 0 {
		g := m.m.Input
		return fail(http.StatusBadRequest, "model %q takes %dx%dx%d images, not a digit as MNIST's (28x28, padded): send it tensors, POST /v2/models/%s/infer",
			m.name, g.Channels, g.Height, g.Width, m.name)
	}
	top := min(3, m.m.Classes)
	if v := q.Get("top"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 || k > m.m.Classes {
			return fail(http.StatusBadRequest, "top=%s: want a whole number from 1 to %d, model %q's classes", v, m.m.Classes, m.name)
		}
		top = k
	}
	inv := digit.InvertAuto
	if v := q.Get("invert"); v != "" {
		var err error
		if inv, err = digit.ParseInvert(v); err != nil {
			return fail(http.StatusBadRequest, "invert=%s: want auto (decide per image), always (dark ink on light paper) or never (light ink on dark)", v)
		}
	}
	preview := false
	if v := q.Get("preview"); v != "" {
		var err error
		if preview, err = strconv.ParseBool(v); err != nil {
			return fail(http.StatusBadRequest, "preview=%s: want 1 (add the image the model sees) or 0", v)
		}
	}
	all, err := s.readPictures(r, inv, m)
	if err != nil {
		return err
	}
	// A multipart request's files that could not be prepared are answered
	// with their error among the others'; when none could, the request
	// fails with the first one's.
	var pics []picture
	for _, p := range all {
		if p.failed == nil {
			pics = append(pics, p)
		}
	}
	if len(pics) == 0 {
		return all[0].failed
	}
	g := m.m.Input
	plane, channels := g.Height*g.Width, g.Channels
	size := channels * plane
	x, out := getFloats(len(pics)*size), getFloats(len(pics)*m.m.Classes)
	j := &job{m: m, x: *x, n: len(pics), out: *out}
	var padded []float32
	for i, p := range pics {
		dst := j.x[i*size : (i+1)*size]
		if m.colour { // the picture's planes, resized to the input already
			for k, v := range p.colour[:size] {
				dst[k] = float32(v) / 255
			}
			continue
		}
		if m.whole { // the picture, resized to the input already
			for k, v := range p.digit.Pix[:plane] {
				dst[k] = float32(v) / 255
			}
		} else if err := fillDigit(dst[:plane], g.Height, g.Width, m.m.Preprocess.Resize, p.digit, &padded); err != nil {
			return err
		}
		if channels > 1 {
			// A colour model of digits takes the grey digit as equal channels.
			dataset.AsChannels(dst, dst, 1, plane, channels, false)
		}
	}
	if err := s.queues[m.name].submit(r.Context(), j); err != nil {
		return err // the batcher may yet write the buffers: they are not given back
	}
	defer putFloats(x)
	defer putFloats(out)
	res := make([]classified, 0, len(all))
	i := 0
	for _, p := range all {
		if p.failed != nil {
			res = append(res, classified{File: p.file, failed: p.failed})
			continue
		}
		c, err := m.answer(j.out[i*m.m.Classes:(i+1)*m.m.Classes], top, p.report)
		if err != nil {
			return err
		}
		i++
		c.File = p.file
		if preview {
			var shown image.Image = p.digit
			if p.colour != nil {
				shown = colourImage(p.colour, m.m.Input.Height, m.m.Input.Width)
			}
			if c.Image, err = dataURL(shown); err != nil {
				return err
			}
		}
		res = append(res, c)
	}
	return writeAnswer(w, func(b []byte) ([]byte, error) { return appendClassifyAnswer(b, m.name, res) })
}

// readPictures reads and prepares the request's images: the body, or
// each file part of a multipart/form-data body.
func (s *Server) readPictures(r *http.Request, inv digit.Invert, m *model) ([]picture, error) {
	limit := s.opt.QueueSize
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		p, err := s.prepare(r.Body, "body", inv, m)
		if err != nil {
			return nil, err
		}
		if p.failed != nil {
			return nil, p.failed
		}
		// What follows the image is read, so that a body over --max-body
		// sent without its length is refused too.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return nil, bodyError(err, "reading the body: %v", err)
		}
		return []picture{p}, nil
	}
	if params["boundary"] == "" {
		return nil, fail(http.StatusBadRequest, "multipart/form-data without a boundary: let the client write the Content-Type (curl -F image=@seven.png)")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var pics []picture
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyError(err, "malformed multipart/form-data body: %v", err)
		}
		if part.FileName() == "" {
			continue // a form field, not a file
		}
		if len(pics) == limit {
			return nil, fail(http.StatusRequestEntityTooLarge, "more than %d images in one request (--queue): send fewer at a time", limit)
		}
		p, err := s.prepare(part, part.FileName(), inv, m)
		if err != nil {
			return nil, err
		}
		pics = append(pics, p)
	}
	if len(pics) == 0 {
		return nil, fail(http.StatusBadRequest, "no image in the form: send each image as a file part (curl -F image=@seven.png)")
	}
	return pics, nil
}

// prepare decodes one image and finds the digit in it, or for a model of
// whole pictures (ModelSpec.Prep) makes it grey and resizes it to the
// input. A file that cannot be classified (empty, over the pixel budget,
// not an image, no digit in it) comes back failed; err is what ends the
// whole request: the body could not be read.
func (s *Server) prepare(r io.Reader, file string, inv digit.Invert, m *model) (picture, error) {
	s.decoding <- struct{}{}
	defer func() { <-s.decoding }()
	br := &countingReader{r: r}
	img, err := digit.Decode(br, s.opt.MaxPixels)
	failed := func(status int, format string, args ...any) (picture, error) {
		return picture{file: file, failed: fail(status, format, args...)}, nil
	}
	switch {
	case err == nil:
	case br.n == 0 && !errors.Is(err, digit.ErrTooLarge) && br.err == io.EOF:
		return failed(http.StatusBadRequest, "image %q is empty: send an image file as the body (curl --data-binary @seven.png) or as a form's file part (curl -F image=@seven.png)", file)
	case errors.Is(err, digit.ErrTooLarge):
		return failed(http.StatusRequestEntityTooLarge, "image %q: %v (--max-pixels %d)", file, err, s.opt.MaxPixels)
	case errors.Is(err, digit.ErrNotImage):
		msg := err.Error()
		if !strings.Contains(msg, "PNG") {
			msg += "; send a PNG, JPEG, GIF or BMP file"
		}
		return failed(http.StatusUnsupportedMediaType, "image %q: %s", file, msg)
	default:
		return picture{}, bodyError(err, "reading image %q: %v", file, err)
	}
	if m.colour {
		in := m.m.Input
		pix, err := dataset.ColourPlanes(img, in.Height, in.Width, m.area, inv)
		if err != nil {
			return failed(http.StatusUnprocessableEntity, "image %q: %v", file, err)
		}
		return picture{file: file, colour: pix}, nil
	}
	if m.whole {
		g, err := digit.Grey(img)
		if err != nil {
			return failed(http.StatusUnprocessableEntity, "image %q: %s", file, strings.TrimPrefix(err.Error(), "digit: "))
		}
		in := m.m.Input
		pix, err := dataset.Resize(g.Pix, g.Rect.Dx(), g.Rect.Dy(), in.Width, in.Height, m.area)
		if err != nil {
			return failed(http.StatusUnprocessableEntity, "image %q: %v", file, err)
		}
		if inv == digit.InvertAlways { // as infer --prep resize --invert always
			for i, v := range pix {
				pix[i] = 255 - v
			}
		}
		return picture{file: file, digit: &image.Gray{Pix: pix, Stride: in.Width, Rect: image.Rect(0, 0, in.Width, in.Height)}}, nil
	}
	d, rep, err := digit.Prepare(img, inv)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "digit: ")
		if errors.Is(err, digit.ErrBlank) {
			msg += "; send a picture of a digit (with invert=always or never if the colours were misread)"
		}
		return failed(http.StatusUnprocessableEntity, "image %q: %s", file, msg)
	}
	return picture{file: file, digit: d, report: rep}, nil
}

// bodyError is a failure to read the body: readFault's refusal, or 400
// with the message.
func bodyError(err error, format string, args ...any) error {
	if rerr := readFault(err); rerr != nil {
		return rerr
	}
	return fail(http.StatusBadRequest, format, args...)
}

// countingReader tells an empty body from a damaged one.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// fillDigit writes digit d into dst as the model's h x w image: resized
// to it when the model was trained on resized digits (resize, its
// Preprocessing.Resize), else padded, the seed's 32x32 padded digit as it
// is and any other square side cut from it through *padded, a buffer made
// on first use.
func fillDigit(dst []float32, h, w int, resize string, d *image.Gray, padded *[]float32) error {
	if resize != "" {
		return resizeDigit(dst, h, w, resize == "area", d)
	}
	side := h
	if side == mnist.Side {
		return digit.Fill(d, dst)
	}
	if *padded == nil {
		*padded = make([]float32, mnist.PixelCount)
	}
	if err := digit.Fill(d, *padded); err != nil {
		return err
	}
	crop(dst, side, *padded)
	return nil
}

// crop writes the 32x32 padded digit src into dst, side x side: the
// centre of it, or it with more zero padding. It is Model.Logits's
// cropping, done here so that every batch goes to InputLogits.
func crop(dst []float32, side int, src []float32) {
	clear(dst)
	off := (mnist.Side - side) / 2
	for r := range side {
		sr := r + off
		if sr < 0 || sr >= mnist.Side {
			continue
		}
		for c := range side {
			if sc := c + off; sc >= 0 && sc < mnist.Side {
				dst[r*side+c] = src[sr*mnist.Side+sc]
			}
		}
	}
}

// answer is one image's classes from the model's scores: softmax
// probabilities (for a graph ending in Softmax, whose Logits are the
// logarithms of its probabilities, that gives those back), the top k and
// the flags infer gives.
func (m *model) answer(scores []float32, k int, rep digit.Report) (classified, error) {
	p := softmax(scores)
	if p == nil {
		return classified{}, fmt.Errorf("model %q gave scores that are not finite", m.name)
	}
	order := make([]int, len(p))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return 0
	})
	c := classified{Class: order[0], Label: m.labels[order[0]], Probability: p[order[0]], Probabilities: p}
	for _, i := range order[:k] {
		c.Top = append(c.Top, ranked{Class: i, Label: m.labels[i], Probability: p[i]})
	}
	if rep.SeveralMarks {
		c.Flags = append(c.Flags, string(infer.FlagSeveralComponents))
	}
	if rep.Guessed {
		c.Flags = append(c.Flags, string(infer.FlagGuessedPreparation))
	}
	if c.Probability < infer.LowConfidence {
		c.Flags = append(c.Flags, string(infer.FlagLowConfidence))
	}
	return c, nil
}

// softmax is the probabilities of scores, in float64; nil when a score is
// not finite.
func softmax(scores []float32) []float64 {
	hi := math.Inf(-1)
	for _, v := range scores {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 1) {
			return nil
		}
		hi = max(hi, f)
	}
	if math.IsInf(hi, -1) {
		return nil
	}
	p := make([]float64, len(scores))
	sum := 0.0
	for i, v := range scores {
		p[i] = math.Exp(float64(v) - hi)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// dataURL is d as a PNG data: URL, for the page to show.
// colourImage is a colour model's input planes as a picture.
func colourImage(planes []byte, h, w int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range h * w {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = planes[i], planes[h*w+i], planes[2*h*w+i], 255
	}
	return img
}

func dataURL(d image.Image) (string, error) {
	var b bytes.Buffer
	if err := png.Encode(&b, d); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

// resizeDigit writes digit d resized to h x w into dst, as --prep resize
// makes an image of MNIST's for a model trained on resized digits: PIL's
// resize of its bytes (dataset.Resize), then ToTensor's v/255.
func resizeDigit(dst []float32, h, w int, area bool, d *image.Gray) error {
	b := d.Bounds()
	if b.Dx() != digit.Side || b.Dy() != digit.Side {
		return fmt.Errorf("serve: a digit is %dx%d pixels, got %dx%d", digit.Side, digit.Side, b.Dx(), b.Dy())
	}
	pix := make([]byte, 0, digit.Side*digit.Side)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		off := d.PixOffset(b.Min.X, y)
		pix = append(pix, d.Pix[off:off+digit.Side]...)
	}
	resized, err := dataset.Resize(pix, digit.Side, digit.Side, w, h, area)
	if err != nil {
		return err
	}
	for i, v := range resized {
		dst[i] = float32(v) / 255
	}
	return nil
}
