package report

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
)

// page is what the HTML template shows.
type page struct {
	Title  string
	Runs   []pageRun
	Rows   []figureRow // test figures beside the seed's
	Charts []pageChart
	Config []configRow
}

type pageRun struct {
	Name, Dir string
	Notes     []string
}

type figureRow struct {
	Label  string
	Values []string // one per run
	Seed   string
}

type pageChart struct {
	Title string
	// Src is the src attribute, a data: URI. As a template.URL it would
	// come out with every + of the base64 escaped as &#43;.
	Src template.HTMLAttr
}

type configRow struct {
	Key    string
	Values []string
}

func newPage(runs []*Run, names []string, charts []*chart, pngs [][]byte) page {
	p := page{Title: "lenetkit run " + names[0]}
	if len(runs) > 1 {
		p.Title = "lenetkit runs " + strings.Join(names, ", ")
	}
	for i, r := range runs {
		p.Runs = append(p.Runs, pageRun{Name: names[i], Dir: r.Dir, Notes: r.Notes})
	}
	p.Rows = figureRows(runs)
	for i, c := range charts {
		p.Charts = append(p.Charts, pageChart{Title: c.title,
			Src: template.HTMLAttr(`src="data:image/png;base64,` + base64.StdEncoding.EncodeToString(pngs[i]) + `"`)})
	}
	p.Config = configRows(runs)
	return p
}

// figureRows are the run's results in the seed's terms: its test figures
// under the notebook's protocol, which the seed's 99.16 % and 0.0253 are.
func figureRows(runs []*Run) []figureRow {
	const none = "–"
	test := func(label, seed string, f func(t *Test) string) figureRow {
		row := figureRow{Label: label, Seed: seed}
		for _, r := range runs {
			v := none
			if r.Test != nil {
				v = f(r.Test)
			}
			row.Values = append(row.Values, v)
		}
		return row
	}
	rows := []figureRow{
		test("Test accuracy (seed's protocol)", fmt.Sprintf("%.2f %%", seedAccuracy), func(t *Test) string {
			return fmt.Sprintf("%.2f %% (%+.2f)", t.Acc, t.Acc-seedAccuracy)
		}),
		test("Test loss (seed's protocol)", fmt.Sprintf("%.4f", seedLoss), func(t *Test) string {
			return fmt.Sprintf("%.4f (%+.4f)", t.Loss, t.Loss-seedLoss)
		}),
		test("Images (seed's protocol: full batches only)", "9,984", func(t *Test) string { return thousands(t.Images) }),
		test("Test accuracy, all images", none, func(t *Test) string {
			if t.AccFull == 0 && t.LossFull == 0 {
				return none
			}
			return fmt.Sprintf("%.2f %%", t.AccFull)
		}),
		test("Test loss, all images", none, func(t *Test) string {
			if t.AccFull == 0 && t.LossFull == 0 {
				return none
			}
			return fmt.Sprintf("%.4f", t.LossFull)
		}),
	}
	epochs := figureRow{Label: "Epochs finished", Seed: "10"}
	best := figureRow{Label: "Best validation accuracy", Seed: none}
	secs := figureRow{Label: "Training time (epochs, without validation)", Seed: none}
	for _, r := range runs {
		e := fmt.Sprint(len(r.Epochs))
		if n, ok := r.Config["epochs"].(json.Number); ok {
			e += " of " + n.String()
		}
		epochs.Values = append(epochs.Values, e)
		b, s := none, 0.0
		if r.validated() && len(r.Epochs) > 0 {
			top := r.Epochs[0]
			for _, ep := range r.Epochs {
				if ep.ValAcc > top.ValAcc {
					top = ep
				}
			}
			b = fmt.Sprintf("%.2f %% (epoch %d)", top.ValAcc, top.Epoch)
		}
		for _, ep := range r.Epochs {
			s += ep.Seconds
		}
		best.Values = append(best.Values, b)
		t := none
		if len(r.Epochs) > 0 {
			t = fmt.Sprintf("%.0f s", s)
		}
		secs.Values = append(secs.Values, t)
	}
	return append(rows, epochs, best, secs)
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// configRows is every key of every run's config.json, one row each.
func configRows(runs []*Run) []configRow {
	var keys []string
	for _, r := range runs {
		for k := range r.Config {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	rows := make([]configRow, len(keys))
	for i, k := range keys {
		rows[i].Key = k
		for _, r := range runs {
			v, ok := r.Config[k]
			rows[i].Values = append(rows[i].Values, configValue(v, ok))
		}
	}
	return rows
}

func configValue(v any, ok bool) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		if ok {
			return "null"
		}
		return "–"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (p page) write(w io.Writer) error {
	return pageTemplate.Execute(w, p)
}

// pageTemplate is the whole page. Everything is inline, style included:
// the file is meant to be mailed, archived or opened offline.
var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif;
       color: #222; background: #fff; margin: 0 auto; padding: 16px 24px 48px; max-width: 1180px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.dirs { color: #555; margin: 0; }
.notes { color: #8a5a00; margin: 6px 0; padding-left: 20px; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 3px 12px 3px 0; vertical-align: top; border-bottom: 1px solid #eee; }
th { font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.seed, th.seed { color: #555; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px 20px; }
figure { margin: 0; }
img.chart { width: 100%; height: auto; display: block; }
@media (max-width: 800px) { .charts { grid-template-columns: minmax(0, 1fr); } }
code { font-size: 13px; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Runs}}<p class="dirs"><b>{{.Name}}</b>: <code>{{.Dir}}</code></p>
{{if .Notes}}<ul class="notes">{{range .Notes}}<li>{{.}}</li>{{end}}</ul>
{{end}}{{end}}
<h2>Test figures beside the seed's</h2>
<table id="figures">
<tr><th></th>{{range .Runs}}<th>{{.Name}}</th>{{end}}<th class="seed">seed (published)</th></tr>
{{range .Rows}}<tr><th>{{.Label}}</th>{{range .Values}}<td class="num">{{.}}</td>{{end}}<td class="num seed">{{.Seed}}</td></tr>
{{end}}</table>

<h2>Charts</h2>
<div class="charts">
{{range .Charts}}<figure><img class="chart" alt="{{.Title}}" {{.Src}}></figure>
{{end}}</div>

<h2>Configuration</h2>
{{if .Config}}<table id="config">
<tr><th></th>{{range .Runs}}<th>{{.Name}}</th>{{end}}</tr>
{{range .Config}}<tr><th><code>{{.Key}}</code></th>{{range .Values}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{else}}<p>No config.json.</p>
{{end}}</body>
</html>
`))
