// Package web holds the page that lenetkit serve serves at /: a canvas to
// draw a digit on with a mouse, a pen or a finger, the image the model sees,
// every class's probability as a bar updated as the digit is drawn, a
// selector of the server's models, and a drop zone that classifies image
// files.
//
// The page is one file, index.html, with its CSS and JavaScript inline. It
// loads nothing from elsewhere: no fonts, style sheets or scripts, and it
// asks only its own server, by relative URLs, for GET v1/models and POST
// v1/classify (a PNG of the canvas as the raw body, dropped files as
// multipart/form-data).
//
// Elements with stable ids, for tests and anyone scripting the page: #pad
// (the canvas), #clear, #model (the selector), #answer (the predicted
// label, empty until there is one), #confidence, #note (what the server
// said when there is no answer, and the answer's flags), #preview (the
// model's input image, a data: URL), #bars (one .bar per class, its
// probability in data-p), #files (the file input), #drop (the drop zone),
// #drops (one .result per classified file, its label in .result-answer) and
// #status. body's data-state is "busy" while a drawing waits for its answer
// and "idle" otherwise; #drops's data-state likewise for files.
package web

import _ "embed"

// Page is index.html, served as text/html; charset=utf-8.
//
//go:embed index.html
var Page []byte
