package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"unicode/utf8"
)

// Rendered is a report in its delivery formats.
type Rendered struct {
	Report *Report
	// HTML is the email body: inline CSS, one column at most 600 px wide,
	// charts as <img src="cid:..."> referring to Attachments.
	HTML string
	// Text is the plain-text alternative, with the chart data as tables.
	Text string
	// JSON is the Report as JSON (the ConfigMap's and webhooks' payload).
	JSON []byte
	// Summary is a few lines with the headline numbers.
	Summary string
	// Period says which window and touchpoints the numbers cover.
	Period string
	// Headline are the headline numbers as fields.
	Headline []Field
	// Attachments are the PNG charts, by Content-ID.
	Attachments []Attachment
}

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"cellStyle": cellStyle,
}).Parse(htmlSource))

// cellStyle is the inline style of a table cell.
func cellStyle(c cell, header bool) template.CSS {
	s := "padding:6px 4px;border-bottom:1px solid #f3f4f6;font-size:14px;line-height:20px;vertical-align:top;overflow-wrap:anywhere;"
	if header {
		s = "padding:4px;border-bottom:1px solid #e5e7eb;font-size:12px;line-height:16px;color:#6b7280;font-weight:normal;"
	}
	if c.Right {
		s += "text-align:right;"
	} else {
		s += "text-align:left;"
	}
	if c.Strong {
		s += "font-weight:bold;"
	}
	switch c.Tone {
	case toneGood:
		s += "color:#047857;"
	case toneBad:
		s += "color:#b91c1c;"
	case toneMuted:
		s += "color:#6b7280;"
	}
	return template.CSS(s) //nolint:gosec // built from constants above
}

// Render renders r as HTML, text and JSON, with its charts.
func Render(r *Report) (*Rendered, error) {
	loc := r.location()
	v := buildView(r, loc)
	out := &Rendered{Report: r}

	var html bytes.Buffer
	if err := htmlTemplate.Execute(&html, v); err != nil {
		return nil, fmt.Errorf("render report HTML: %w", err)
	}
	out.HTML = html.String()
	out.Text = renderText(v)

	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render report JSON: %w", err)
	}
	out.JSON = js

	for _, s := range r.Sections {
		if s.Trend == nil {
			continue
		}
		for _, series := range s.Trend.Series {
			png, err := TrendChart(series, s.Trend.Periods, s.Trend.Period, loc)
			if err != nil {
				return nil, err
			}
			id := chartContentID(series.KPI)
			out.Attachments = append(out.Attachments, Attachment{
				ContentID: id, ContentType: "image/png", Filename: strings.TrimSuffix(id, "@cxloop") + ".png", Data: png,
			})
		}
	}
	out.Headline, out.Summary, out.Period = headline(r, loc)
	return out, nil
}

// renderText lays the view out as plain text: tables with aligned columns.
func renderText(v view) string {
	var b strings.Builder
	b.WriteString(v.Title + "\n")
	b.WriteString(strings.Repeat("=", utf8.RuneCountInString(v.Title)) + "\n")
	b.WriteString(v.Subtitle + "\n")
	for _, s := range v.Sections {
		b.WriteString("\n" + s.Title + "\n" + strings.Repeat("-", utf8.RuneCountInString(s.Title)) + "\n")
		for _, blk := range s.Blocks {
			if blk.Heading != "" {
				b.WriteString("\n" + blk.Heading + "\n")
			}
			writeTable(&b, blk.Header, blk.Rows)
			for _, n := range blk.Notes {
				b.WriteString(n + "\n")
			}
		}
		b.WriteString("\n(" + s.Basis + ")\n")
	}
	b.WriteString("\n-- \n" + v.Footer + "\n")
	return b.String()
}

func writeTable(b *strings.Builder, header []string, rows [][]cell) {
	if len(rows) == 0 {
		return
	}
	cols := len(header)
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	width := make([]int, cols)
	right := make([]bool, cols)
	for i, h := range header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c.Text))
			right[i] = right[i] || c.Right
		}
	}
	line := func(texts []string) {
		var parts []string
		for i, t := range texts {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(t))
			if right[i] {
				parts = append(parts, pad+t)
			} else {
				parts = append(parts, t+pad)
			}
		}
		b.WriteString("  " + strings.TrimRight(strings.Join(parts, "  "), " ") + "\n")
	}
	if len(header) > 0 {
		line(header)
	}
	for _, r := range rows {
		texts := make([]string, len(r))
		for i, c := range r {
			texts[i] = c.Text
		}
		line(texts)
	}
}
