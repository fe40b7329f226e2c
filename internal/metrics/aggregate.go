package metrics

import "maps"

// Scale is the range of a numeric question's answers, integers min..max.
type Scale struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Default scales of the KPI question types.
var (
	NPSScale  = Scale{Min: 0, Max: 10}
	CSATScale = Scale{Min: 1, Max: 5}
	CESScale  = Scale{Min: 1, Max: 7}
)

// NPS classes: answers of PromoterMin and above are promoters, answers of
// DetractorMax and below are detractors, the rest (7-8) passives.
const (
	PromoterMin  = 9
	DetractorMax = 6
)

// QuestionAggregate sums the answers to one question. Count, Sum, SumSquares
// and Histogram cover numeric answers (NPS, CSAT, CES, Rating); Promoters,
// Passives and Detractors only NPS answers; TopTwoBox the numeric answers in
// the two highest values of the question's scale; Yes and No the answers to
// a YesNo question. Integers throughout: merging is exact.
//
// The JSON field names are part of the collector's /v1/metrics API.
type QuestionAggregate struct {
	// Count of numeric answers.
	Count int64 `json:"count"`
	// Sum of the numeric answers.
	Sum int64 `json:"sum"`
	// SumSquares is the sum of the squared numeric answers (for the variance).
	SumSquares int64 `json:"sumSquares"`
	// Histogram counts the numeric answers per value.
	Histogram map[int]int64 `json:"histogram,omitempty"`
	// Promoters counts NPS answers of 9 or 10.
	Promoters int64 `json:"promoters,omitempty"`
	// Passives counts NPS answers of 7 or 8.
	Passives int64 `json:"passives,omitempty"`
	// Detractors counts NPS answers of 0 to 6.
	Detractors int64 `json:"detractors,omitempty"`
	// TopTwoBox counts answers in the two highest values of the scale
	// (4-5 on 1-5; 9-10 on 0-10).
	TopTwoBox int64 `json:"topTwoBox,omitempty"`
	// Yes counts "yes" answers to a YesNo question.
	Yes int64 `json:"yes,omitempty"`
	// No counts "no" answers to a YesNo question.
	No int64 `json:"no,omitempty"`
}

// AddScore counts one numeric answer v on scale s.
func (q *QuestionAggregate) AddScore(v int, s Scale) {
	q.Count++
	q.Sum += int64(v)
	q.SumSquares += int64(v) * int64(v)
	if q.Histogram == nil {
		q.Histogram = make(map[int]int64)
	}
	q.Histogram[v]++
	if v >= s.Max-1 {
		q.TopTwoBox++
	}
}

// AddNPS counts one answer v (0-10) to an NPS question.
func (q *QuestionAggregate) AddNPS(v int) {
	q.AddScore(v, NPSScale)
	switch {
	case v >= PromoterMin:
		q.Promoters++
	case v <= DetractorMax:
		q.Detractors++
	default:
		q.Passives++
	}
}

// AddYesNo counts one answer to a YesNo question.
func (q *QuestionAggregate) AddYesNo(yes bool) {
	if yes {
		q.Yes++
	} else {
		q.No++
	}
}

// merge adds o into q. q's Histogram is q's own (never shared): it is
// allocated here when missing.
func (q *QuestionAggregate) merge(o QuestionAggregate) {
	q.Count += o.Count
	q.Sum += o.Sum
	q.SumSquares += o.SumSquares
	if len(o.Histogram) > 0 {
		if q.Histogram == nil {
			q.Histogram = make(map[int]int64, len(o.Histogram))
		}
		for v, n := range o.Histogram {
			q.Histogram[v] += n
		}
	}
	q.Promoters += o.Promoters
	q.Passives += o.Passives
	q.Detractors += o.Detractors
	q.TopTwoBox += o.TopTwoBox
	q.Yes += o.Yes
	q.No += o.No
}

// Clone returns a deep copy of q.
func (q QuestionAggregate) Clone() QuestionAggregate {
	q.Histogram = maps.Clone(q.Histogram)
	return q
}

// MergeQuestions returns the aggregate of all the answers in qs, for a KPI
// computed over several questions (every NPS question of a program).
func MergeQuestions(qs ...QuestionAggregate) QuestionAggregate {
	var out QuestionAggregate
	for _, q := range qs {
		out.merge(q)
	}
	return out
}

// ThemeAggregate counts the responses that mention a theme and sums their
// sentiment.
type ThemeAggregate struct {
	// Count of responses mentioning the theme.
	Count int64 `json:"count"`
	// SentimentSum is the sum of the sentiment of those that had a score.
	SentimentSum float64 `json:"sentimentSum"`
	// SentimentCount is how many of them had a sentiment score.
	SentimentCount int64 `json:"sentimentCount"`
}

// MeanSentiment is the mean sentiment of the responses mentioning the theme;
// ok is false when none had a score.
func (t ThemeAggregate) MeanSentiment() (mean float64, ok bool) {
	if t.SentimentCount == 0 {
		return 0, false
	}
	return t.SentimentSum / float64(t.SentimentCount), true
}

// PairedSums are the sums over the responses that answered both of two
// questions X and Y (or have both values), from which their correlation is
// computed. In SQL: COUNT(*), SUM(x), SUM(y), SUM(x*x), SUM(y*y), SUM(x*y)
// WHERE x IS NOT NULL AND y IS NOT NULL.
//
// The sums are float64 so that a value such as sentiment can be paired; sums
// of integer answers stay exact (below 2^53), so merging them is exact.
type PairedSums struct {
	N     int64   `json:"n"`
	SumX  float64 `json:"sumX"`
	SumY  float64 `json:"sumY"`
	SumXX float64 `json:"sumXX"`
	SumYY float64 `json:"sumYY"`
	SumXY float64 `json:"sumXY"`
}

// Add counts one pair of values.
func (p *PairedSums) Add(x, y float64) {
	p.N++
	p.SumX += x
	p.SumY += y
	p.SumXX += x * x
	p.SumYY += y * y
	p.SumXY += x * y
}

// Merge adds o into p.
func (p *PairedSums) Merge(o PairedSums) {
	p.N += o.N
	p.SumX += o.SumX
	p.SumY += o.SumY
	p.SumXX += o.SumXX
	p.SumYY += o.SumYY
	p.SumXY += o.SumXY
}

// Swap returns the sums with X and Y exchanged.
func (p PairedSums) Swap() PairedSums {
	return PairedSums{N: p.N, SumX: p.SumY, SumY: p.SumX, SumXX: p.SumYY, SumYY: p.SumXX, SumXY: p.SumXY}
}

// Aggregate sums the responses of a window, for one group or overall. Merge
// combines aggregates of disjoint sets of responses (touchpoints, replicas,
// days) exactly.
//
// Sentiment sums are float64: merging them is exact up to floating-point
// rounding (about 1e-15 relative), which no reported digit shows.
//
// The JSON field names are part of the collector's /v1/metrics API.
type Aggregate struct {
	// Responses counted.
	Responses int64 `json:"responses"`
	// Questions: the answers per question id.
	Questions map[string]QuestionAggregate `json:"questions,omitempty"`
	// Themes: the responses per theme name.
	Themes map[string]ThemeAggregate `json:"themes,omitempty"`
	// SentimentSum is the sum of the responses' sentiment scores.
	SentimentSum float64 `json:"sentimentSum"`
	// SentimentSumSquares is the sum of their squares (for the variance).
	SentimentSumSquares float64 `json:"sentimentSumSquares"`
	// SentimentCount is how many responses had a sentiment score.
	SentimentCount int64 `json:"sentimentCount"`
	// Pairs holds the paired sums of two questions for key-driver analysis,
	// under Pairs[x][y] with x < y (byte order of the ids); use AddPair and
	// Pair rather than indexing.
	Pairs map[string]map[string]PairedSums `json:"pairs,omitempty"`
}

// Question returns the aggregate of question id (zero if absent).
func (a Aggregate) Question(id string) QuestionAggregate { return a.Questions[id] }

// AddQuestion merges q into the aggregate of question id.
func (a *Aggregate) AddQuestion(id string, q QuestionAggregate) {
	if a.Questions == nil {
		a.Questions = make(map[string]QuestionAggregate)
	}
	cur := a.Questions[id]
	cur.merge(q)
	a.Questions[id] = cur
}

// AddSentiment counts one response's sentiment score.
func (a *Aggregate) AddSentiment(s float64) {
	a.SentimentSum += s
	a.SentimentSumSquares += s * s
	a.SentimentCount++
}

// AddTheme counts one response mentioning theme, with its sentiment if it
// has one.
func (a *Aggregate) AddTheme(theme string, sentiment *float64) {
	if a.Themes == nil {
		a.Themes = make(map[string]ThemeAggregate)
	}
	t := a.Themes[theme]
	t.Count++
	if sentiment != nil {
		t.SentimentSum += *sentiment
		t.SentimentCount++
	}
	a.Themes[theme] = t
}

// AddPair counts one response that answered both question x (value vx) and
// question y (value vy).
func (a *Aggregate) AddPair(x, y string, vx, vy float64) {
	if x > y {
		x, y, vx, vy = y, x, vy, vx
	}
	p := a.Pair(x, y)
	p.Add(vx, vy)
	a.setPair(x, y, p)
}

// MergePair merges p, the paired sums of questions x (as X) and y (as Y),
// into the aggregate; for sums computed elsewhere, in SQL for instance.
func (a *Aggregate) MergePair(x, y string, p PairedSums) {
	if x > y {
		x, y, p = y, x, p.Swap()
	}
	cur := a.Pair(x, y)
	cur.Merge(p)
	a.setPair(x, y, cur)
}

// Pair returns the paired sums of questions x and y, with x as X and y as Y
// (zero when no response answered both).
func (a Aggregate) Pair(x, y string) PairedSums {
	if x > y {
		return a.Pairs[y][x].Swap()
	}
	return a.Pairs[x][y]
}

func (a *Aggregate) setPair(x, y string, p PairedSums) {
	if a.Pairs == nil {
		a.Pairs = make(map[string]map[string]PairedSums)
	}
	inner := a.Pairs[x]
	if inner == nil {
		inner = make(map[string]PairedSums)
		a.Pairs[x] = inner
	}
	inner[y] = p
}

// Merge returns the aggregate of the responses of all of aggs (which must be
// disjoint: the same response counted in two aggregates counts twice). The
// result shares no map with its inputs. Merging is associative and
// commutative, and Merge() is the zero Aggregate.
func Merge(aggs ...Aggregate) Aggregate {
	var out Aggregate
	for _, a := range aggs {
		out.merge(a)
	}
	return out
}

// merge adds o into a, whose maps must be its own.
func (a *Aggregate) merge(o Aggregate) {
	a.Responses += o.Responses
	a.SentimentSum += o.SentimentSum
	a.SentimentSumSquares += o.SentimentSumSquares
	a.SentimentCount += o.SentimentCount
	for id, q := range o.Questions {
		a.AddQuestion(id, q)
	}
	for name, t := range o.Themes {
		if a.Themes == nil {
			a.Themes = make(map[string]ThemeAggregate, len(o.Themes))
		}
		cur := a.Themes[name]
		cur.Count += t.Count
		cur.SentimentSum += t.SentimentSum
		cur.SentimentCount += t.SentimentCount
		a.Themes[name] = cur
	}
	for x, inner := range o.Pairs {
		for y, p := range inner {
			a.MergePair(x, y, p)
		}
	}
}

// MergeGroups merges per-group aggregates (group value → aggregate, as
// /v1/metrics?groupBy= returns them) group by group.
func MergeGroups(groups ...map[string]Aggregate) map[string]Aggregate {
	var out map[string]Aggregate
	for _, g := range groups {
		for k, a := range g {
			if out == nil {
				out = make(map[string]Aggregate)
			}
			cur := out[k]
			cur.merge(a)
			out[k] = cur
		}
	}
	return out
}
