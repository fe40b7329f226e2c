package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"sync"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Chart geometry, in image pixels. Images are drawn at twice the size they
// are shown (ChartWidth × ChartHeight CSS pixels) to stay sharp on phones.
const (
	ChartWidth  = 560
	ChartHeight = 240
	chartScale  = 2

	chartW      = ChartWidth * chartScale
	chartH      = ChartHeight * chartScale
	chartLeft   = 120
	chartRight  = 40
	chartTop    = 40
	chartBottom = 72
	fontSize    = 30
)

// Chart colours. seriesColor is used nowhere else in a report, so tests can
// find the line in a screenshot.
var (
	seriesColor = color.RGBA{R: 0x1d, G: 0x4e, B: 0xd8, A: 0xff}
	bandColor   = color.RGBA{R: 0xc7, G: 0xd7, B: 0xfe, A: 0xff}
	gridColor   = color.RGBA{R: 0xe5, G: 0xe7, B: 0xeb, A: 0xff}
	axisColor   = color.RGBA{R: 0x9c, G: 0xa3, B: 0xaf, A: 0xff}
	textColor   = color.RGBA{R: 0x37, G: 0x41, B: 0x51, A: 0xff}
)

// SeriesColor is the colour of the line of a trend chart.
func SeriesColor() color.RGBA { return seriesColor }

var (
	fontOnce sync.Once
	goFont   *opentype.Font
	fontErr  error
)

func newFace() (font.Face, error) {
	fontOnce.Do(func() { goFont, fontErr = opentype.Parse(goregular.TTF) })
	if fontErr != nil {
		return nil, fontErr
	}
	return opentype.NewFace(goFont, &opentype.FaceOptions{Size: fontSize, DPI: 72, Hinting: font.HintingFull})
}

// TrendChart draws one KPI over the periods as a PNG line chart: the value
// per period with its 95% margin of error as a band, a gap where a period
// had no answers, and the period start dates below.
func TrendChart(s TrendSeries, periods []Window, period cxv1alpha1.TrendPeriod, loc *time.Location) ([]byte, error) {
	face, err := newFace()
	if err != nil {
		return nil, fmt.Errorf("load chart font: %w", err)
	}
	defer face.Close()
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)

	lo, hi := yRange(s)
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBottom)
	n := len(s.Points)
	x := func(i int) float64 {
		if n == 1 {
			return chartLeft + plotW/2
		}
		return chartLeft + plotW*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return chartTop + plotH*(hi-v)/(hi-lo) }

	c := canvas{img: img, face: face}

	// Grid and y labels.
	const ticks = 4
	for t := 0; t <= ticks; t++ {
		v := lo + (hi-lo)*float64(t)/ticks
		yy := y(v)
		c.line(chartLeft, yy, chartW-chartRight, yy, 2, gridColor)
		c.text(formatTick(s.KPI, v), chartLeft-12, yy+fontSize/3, textColor, alignRight)
	}
	c.line(chartLeft, chartTop+plotH, chartW-chartRight, chartTop+plotH, 2, axisColor)

	// Margin-of-error band and line, broken where a period has no value.
	for i := 0; i+1 < n; i++ {
		a, b := s.Points[i], s.Points[i+1]
		if a.Value == nil || b.Value == nil {
			continue
		}
		c.polygon([][2]float64{
			{x(i), y(*a.Value + a.MarginOfError)}, {x(i + 1), y(*b.Value + b.MarginOfError)},
			{x(i + 1), y(*b.Value - b.MarginOfError)}, {x(i), y(*a.Value - a.MarginOfError)},
		}, bandColor)
	}
	for i := 0; i+1 < n; i++ {
		a, b := s.Points[i], s.Points[i+1]
		if a.Value != nil && b.Value != nil {
			c.line(x(i), y(*a.Value), x(i+1), y(*b.Value), 5, seriesColor)
		}
	}
	for i, p := range s.Points {
		if p.Value != nil {
			c.dot(x(i), y(*p.Value), 7, seriesColor)
		}
	}
	// The last value, labelled.
	for i := n - 1; i >= 0; i-- {
		if v := s.Points[i].Value; v != nil {
			c.text(formatValue(s.KPI, *v), x(i), y(*v)-20, seriesColor, alignRight)
			break
		}
	}

	// x labels: at most six, always the first and the last.
	step := max(1, (n+5)/6)
	for i := 0; i < n; i += step {
		if i+step >= n && i != n-1 && n-1-i < step/2+1 {
			break // the last label would collide
		}
		c.text(periodLabel(periods[i], period, loc), x(i), float64(chartH)-28, textColor, alignCenter)
	}
	if n > 1 {
		c.text(periodLabel(periods[n-1], period, loc), x(n-1), float64(chartH)-28, textColor, alignRight)
	}

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode chart: %w", err)
	}
	return buf.Bytes(), nil
}

// yRange is the y axis: the values with their margins, padded, at least a
// minimum span, clipped to the KPI's possible range.
func yRange(s TrendSeries) (lo, hi float64) {
	minLo, maxHi, minSpan := -100.0, 100.0, 20.0
	switch s.KPI {
	case cxv1alpha1.KPICSAT:
		minLo = 0
	case cxv1alpha1.KPICES:
		minLo, maxHi, minSpan = 0, 10, 1
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range s.Points {
		if p.Value != nil {
			lo = min(lo, *p.Value-p.MarginOfError)
			hi = max(hi, *p.Value+p.MarginOfError)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = minLo, maxHi
	}
	if span := hi - lo; span < minSpan {
		mid := (lo + hi) / 2
		lo, hi = mid-minSpan/2, mid+minSpan/2
	}
	pad := (hi - lo) * 0.1
	lo, hi = max(minLo, lo-pad), min(maxHi, hi+pad)
	// Round outward to a tick step of the axis.
	step := niceStep((hi - lo) / 4)
	lo, hi = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	return max(minLo, lo), min(maxHi, hi)
}

// niceStep rounds a step up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(kpi cxv1alpha1.KPI, v float64) string {
	if kpi == cxv1alpha1.KPICES {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", round(v, 0))
}

// periodLabel names a period by its start: "2 Mar", or "Mar 2026" for a
// month.
func periodLabel(w Window, period cxv1alpha1.TrendPeriod, loc *time.Location) string {
	if period == cxv1alpha1.TrendMonth {
		return w.From.In(loc).Format("Jan 2006")
	}
	return w.From.In(loc).Format("2 Jan")
}

type align int

const (
	alignLeft align = iota
	alignCenter
	alignRight
)

// canvas draws anti-aliased shapes and text on an image.
type canvas struct {
	img  *image.RGBA
	face font.Face
}

// fill rasterizes the polygon pts (closed) in col. Only the polygon's
// bounding box is rasterized: a chart is dozens of small shapes.
func (c canvas) fill(pts [][2]float64, col color.Color) {
	if len(pts) < 3 {
		return
	}
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range pts {
		x0, y0, x1, y1 = min(x0, p[0]), min(y0, p[1]), max(x1, p[0]), max(y1, p[1])
	}
	box := image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1))+1, int(math.Ceil(y1))+1).Intersect(c.img.Bounds())
	if box.Empty() {
		return
	}
	r := vector.NewRasterizer(box.Dx(), box.Dy())
	for i, p := range pts {
		x, y := float32(p[0]-float64(box.Min.X)), float32(p[1]-float64(box.Min.Y))
		if i == 0 {
			r.MoveTo(x, y)
		} else {
			r.LineTo(x, y)
		}
	}
	r.ClosePath()
	r.Draw(c.img, box, image.NewUniform(col), image.Point{})
}

// line strokes a segment of the given width.
func (c canvas) line(x0, y0, x1, y1, width float64, col color.Color) {
	dx, dy := x1-x0, y1-y0
	l := math.Hypot(dx, dy)
	if l == 0 {
		return
	}
	nx, ny := -dy/l*width/2, dx/l*width/2
	c.fill([][2]float64{{x0 + nx, y0 + ny}, {x1 + nx, y1 + ny}, {x1 - nx, y1 - ny}, {x0 - nx, y0 - ny}}, col)
}

// dot fills a circle.
func (c canvas) dot(cx, cy, radius float64, col color.Color) {
	const steps = 32
	pts := make([][2]float64, steps)
	for i := range pts {
		a := 2 * math.Pi * float64(i) / steps
		pts[i] = [2]float64{cx + radius*math.Cos(a), cy + radius*math.Sin(a)}
	}
	c.fill(pts, col)
}

// polygon fills a polygon, clipped vertically to the plot area.
func (c canvas) polygon(pts [][2]float64, col color.Color) {
	top, bottom := float64(chartTop), float64(chartH-chartBottom)
	clipped := make([][2]float64, len(pts))
	for i, p := range pts {
		clipped[i] = [2]float64{p[0], min(bottom, max(top, p[1]))}
	}
	c.fill(clipped, col)
}

// text draws s with its baseline at y, aligned at x.
func (c canvas) text(s string, x, y float64, col color.Color, a align) {
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: c.face}
	w := float64(d.MeasureString(s)) / 64
	switch a {
	case alignCenter:
		x -= w / 2
	case alignRight:
		x -= w
	}
	d.Dot = fixed.P(int(math.Round(x)), int(math.Round(y)))
	d.DrawString(s)
}
