package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cxloop/cxloop/internal/metrics"
)

// QuestionKind says how a question's answers are aggregated.
type QuestionKind string

const (
	// KindNPS: 0-10; promoters (9-10), passives (7-8), detractors (0-6),
	// plus everything KindNumeric computes.
	KindNPS QuestionKind = "NPS"
	// KindNumeric: a whole number on a scale (CSAT, CES, rating): count,
	// sum, sum of squares, top-two-box, counts per value.
	KindNumeric QuestionKind = "Numeric"
	// KindYesNo: true/false answers.
	KindYesNo QuestionKind = "YesNo"
	// KindChoice: a string or a list of strings; counts per value.
	KindChoice QuestionKind = "Choice"
)

// maxHistogramValues bounds the per-value counts of a numeric question.
const maxHistogramValues = 101

// QuestionSpec names a question to aggregate.
type QuestionSpec struct {
	// ID of the question (the key in answers).
	ID   string
	Kind QuestionKind
	// ScaleMin and ScaleMax of a numeric question; NPS defaults to 0-10.
	// Top-two-box counts answers >= ScaleMax-1; per-value counts cover
	// ScaleMin..ScaleMax (at most 101 values). Without a scale
	// (ScaleMax <= ScaleMin) only count, sum and sum of squares are kept.
	ScaleMin, ScaleMax int
}

// AggregateQuery selects the responses and what to compute.
type AggregateQuery struct {
	// Touchpoints to include; empty means all touchpoints of the store.
	Touchpoints []string
	// From and To bound submitted_at: From <= t < To. A zero time leaves
	// that side open.
	From, To time.Time
	// GroupBy is "" (one group), "customer.tier", "customer.segment",
	// "customer.attributes.<key>" or "metadata.<key>". Responses without
	// the value fall in the group "".
	GroupBy   string
	Questions []QuestionSpec
	// Pairs of NPS or Numeric questions of Questions whose paired sums
	// (responses answering both) are wanted, for key-driver analysis.
	Pairs [][2]string
}

// AggregateResult is metrics.GroupedAggregate, the result of an
// aggregate query (the collector's /v1/metrics API): mergeable aggregates
// per group, which merge exactly across touchpoints and collectors.
type AggregateResult = metrics.GroupedAggregate

// groupExpr returns the SQL expression of a group-by key.
func groupExpr(d dialect, groupBy string) (string, error) {
	switch {
	case groupBy == "":
		return "''", nil
	case groupBy == "customer.tier":
		return "customer_tier", nil
	case groupBy == "customer.segment":
		return "customer_segment", nil
	case strings.HasPrefix(groupBy, "customer.attributes."):
		k := strings.TrimPrefix(groupBy, "customer.attributes.")
		if err := validKey("groupBy attribute", k); err != nil {
			return "", err
		}
		return d.jsonText("customer_attributes", k), nil
	case strings.HasPrefix(groupBy, "metadata."):
		k := strings.TrimPrefix(groupBy, "metadata.")
		if err := validKey("groupBy metadata key", k); err != nil {
			return "", err
		}
		return d.jsonText("metadata", k), nil
	}
	return "", fmt.Errorf("%w: groupBy %q: use metadata.<key>, customer.tier, customer.segment or customer.attributes.<key>", ErrInvalid, groupBy)
}

// aggDialect holds the engine's SQL for GROUP BY aggregates (PostgreSQL;
// Choice questions on both engines). An aggregate query has
// three levels: the inner query extracts each JSON value once per row
// (raw), the middle one types it (number, yes, no), the outer one
// aggregates. noFlatten keeps the engines from merging the levels, which
// would extract a value once per aggregate that uses it.
type aggDialect struct {
	// raw extracts the answer to a question for number().
	raw func(key string) string
	// rawBool extracts the answer to a yes/no question for yes() and no().
	rawBool func(key string) string
	// number types a raw value as an integer, NULL unless a number.
	number func(v string) string
	// yes and no are conditions on a rawBool value.
	yes, no func(v string) string
	// isum and fsum sum integers (as an integer) and floats, 0 when empty.
	isum, fsum func(expr string) string
	noFlatten  string
	// themes: FROM-clause items unnesting x.themes into t(value).
	themes string
	// choices: FROM-clause items unnesting the answer to a question in
	// x.answers (a string or a list of strings) into c(value).
	choices func(key string) string
	// hasThemes: condition that a response has themes.
	hasThemes string
}

// sqliteAgg: SQLite groups main aggregates and themes with functions (see
// sqlite_aggregate.go); only Choice questions use GROUP BY.
var sqliteAgg = aggDialect{
	noFlatten: " LIMIT -1 OFFSET 0",
	choices:   func(k string) string { return `, json_each(x.answers, '$."` + k + `"') AS c` },
}

var pgAgg = aggDialect{
	raw:     func(k string) string { return "(answers -> '" + k + "')" },
	rawBool: func(k string) string { return "(answers -> '" + k + "')" },
	number: func(v string) string {
		return "(CASE WHEN jsonb_typeof(" + v + ") = 'number' THEN " + v + "::numeric::bigint END)"
	},
	yes:       func(v string) string { return v + " = 'true'::jsonb" },
	no:        func(v string) string { return v + " = 'false'::jsonb" },
	isum:      func(e string) string { return "coalesce(sum(" + e + "), 0)::bigint" },
	fsum:      func(e string) string { return "coalesce(sum(" + e + "), 0)::float8" },
	noFlatten: " OFFSET 0",
	themes:    " CROSS JOIN LATERAL jsonb_array_elements_text(x.themes) AS t(value)",
	choices: func(k string) string {
		return " CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(x.answers -> '" + k + "')" +
			" WHEN 'array' THEN x.answers -> '" + k + "' ELSE jsonb_build_array(x.answers -> '" + k + "') END) AS c(value)" +
			" WHERE x.answers -> '" + k + "' IS NOT NULL"
	},
	hasThemes: "themes <> '[]'::jsonb",
}

func (s *sqlStore) aggDialect() aggDialect {
	if s.d.name == DriverPostgres {
		return pgAgg
	}
	return sqliteAgg
}

// whereClause selects the responses of an aggregate query.
func (s *sqlStore) whereClause(q AggregateQuery, part seqRange) (string, []any) {
	conds := []string{"namespace = ?"}
	args := []any{s.cfg.Namespace}
	if part != (seqRange{}) {
		conds = append(conds, "seq BETWEEN ? AND ?")
		args = append(args, part.from, part.to)
	}
	if len(q.Touchpoints) > 0 {
		conds = append(conds, "touchpoint IN ("+placeholders(len(q.Touchpoints))+")")
		for _, tp := range q.Touchpoints {
			args = append(args, tp)
		}
	}
	if !q.From.IsZero() {
		conds = append(conds, "submitted_at >= ?")
		args = append(args, s.d.ts(utc(q.From)))
	}
	if !q.To.IsZero() {
		conds = append(conds, "submitted_at < ?")
		args = append(args, s.d.ts(utc(q.To)))
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func (s *sqlStore) Aggregate(ctx context.Context, q AggregateQuery) (*AggregateResult, error) {
	g, err := groupExpr(s.d, q.GroupBy)
	if err != nil {
		return nil, err
	}
	specs := make([]QuestionSpec, len(q.Questions))
	numeric := map[string]bool{}
	for i, spec := range q.Questions {
		if err := validKey("question id", spec.ID); err != nil {
			return nil, err
		}
		switch spec.Kind {
		case KindNPS:
			spec.ScaleMin, spec.ScaleMax = metrics.NPSScale.Min, metrics.NPSScale.Max
			numeric[spec.ID] = true
		case KindNumeric:
			numeric[spec.ID] = true
		case KindYesNo, KindChoice:
		default:
			return nil, fmt.Errorf("%w: question %s: kind %q: use NPS, Numeric, YesNo or Choice", ErrInvalid, spec.ID, spec.Kind)
		}
		specs[i] = spec
	}
	for _, p := range q.Pairs {
		if !numeric[p[0]] || !numeric[p[1]] || p[0] == p[1] {
			return nil, fmt.Errorf("%w: pair %s/%s: name two different NPS or Numeric questions of the query", ErrInvalid, p[0], p[1])
		}
	}
	// The sub-queries are independent: run them concurrently, and on
	// SQLite split the rows into ranges of seq, one query per range, so
	// that a large aggregate uses several cores. Results merge exactly.
	var tasks []func(ctx context.Context, part seqRange) (*AggregateResult, error)
	tasks = append(tasks,
		func(ctx context.Context, part seqRange) (*AggregateResult, error) {
			if s.d.name == DriverSQLite {
				return s.aggregateMainSQLite(ctx, q, part, specs, g)
			}
			return s.aggregateMain(ctx, q, part, specs, g)
		},
		func(ctx context.Context, part seqRange) (*AggregateResult, error) {
			if s.d.name == DriverSQLite {
				return s.aggregateThemesSQLite(ctx, q, part, g)
			}
			return s.aggregateThemes(ctx, q, part, g)
		})
	for _, spec := range specs {
		if spec.Kind == KindChoice {
			tasks = append(tasks, func(ctx context.Context, part seqRange) (*AggregateResult, error) {
				return s.aggregateChoices(ctx, q, part, spec, g)
			})
		}
	}
	parts, err := s.partitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("aggregate responses: %w", err)
	}
	res := &AggregateResult{GroupBy: q.GroupBy, Groups: map[string]metrics.Aggregate{}}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(1, s.aggregateWorkers()))
	for _, task := range tasks {
		for _, part := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				r, err := task(ctx, part)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					return
				}
				res.Merge(r)
			}()
		}
	}
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("aggregate responses: %w", firstErr)
	}
	return res, nil
}

// seqRange restricts an aggregate sub-query to from <= seq <= to; the zero
// range does not restrict.
type seqRange struct{ from, to int64 }

// minPartitionRows is the smallest seq range worth a query of its own.
const minPartitionRows = 100_000

// partitions splits the responses for parallel aggregation (SQLite only:
// PostgreSQL plans parallel scans itself).
func (s *sqlStore) partitions(ctx context.Context) ([]seqRange, error) {
	workers := s.aggregateWorkers()
	if s.d.name != DriverSQLite || workers < 2 {
		return []seqRange{{}}, nil
	}
	var lo, hi sql.NullInt64
	// Two subqueries: SQLite reads min and max of the rowid in O(log n) only
	// for a lone min() or max().
	if err := s.r.queryRow(ctx, `SELECT (SELECT min(seq) FROM responses), (SELECT max(seq) FROM responses)`).Scan(&lo, &hi); err != nil {
		return nil, err
	}
	minRows := int64(minPartitionRows)
	if s.tune.minPartitionRows > 0 {
		minRows = s.tune.minPartitionRows
	}
	span := hi.Int64 - lo.Int64 + 1
	if !lo.Valid || span < 2*minRows {
		return []seqRange{{}}, nil
	}
	n := int64(min(workers, int(span/minRows)))
	parts := make([]seqRange, n)
	for i := range parts {
		parts[i] = seqRange{from: lo.Int64 + span*int64(i)/n, to: lo.Int64 + span*int64(i+1)/n - 1}
	}
	// Rows written after min/max was read belong to the last range.
	parts[n-1].to = math.MaxInt64
	return parts, nil
}

// aggregateWorkers is how many aggregate sub-queries run at once.
func (s *sqlStore) aggregateWorkers() int {
	if s.tune.aggregateWorkers > 0 {
		return s.tune.aggregateWorkers
	}
	if s.d.name != DriverSQLite {
		return 4
	}
	return min(s.cfg.MaxReadConns, runtime.GOMAXPROCS(0))
}

// aggBuilder collects the aggregates of the groups while rows are read.
type aggBuilder struct {
	groups map[string]*metrics.Aggregate
}

func (b *aggBuilder) group(k string) *metrics.Aggregate {
	a := b.groups[k]
	if a == nil {
		a = &metrics.Aggregate{}
		b.groups[k] = a
	}
	return a
}

func (b *aggBuilder) result() *AggregateResult {
	r := &AggregateResult{Groups: make(map[string]metrics.Aggregate, len(b.groups))}
	for k, a := range b.groups {
		r.Groups[k] = *a
	}
	return r
}

// deriveFromHistograms computes the NPS classes and the top-two-box count
// of questions whose per-value counts were queried (fewer aggregates per
// row than asking SQL for them too).
func (b *aggBuilder) deriveFromHistograms(specs []QuestionSpec) {
	for _, spec := range specs {
		if !hasHistogram(spec) {
			continue
		}
		for _, a := range b.groups {
			q, ok := a.Questions[spec.ID]
			if !ok {
				continue
			}
			for v, n := range q.Histogram {
				if v >= spec.ScaleMax-1 {
					q.TopTwoBox += n
				}
				if spec.Kind == KindNPS {
					switch {
					case v >= metrics.PromoterMin:
						q.Promoters += n
					case v <= metrics.DetractorMax:
						q.Detractors += n
					default:
						q.Passives += n
					}
				}
			}
			a.Questions[spec.ID] = q
		}
	}
}

// hasHistogram: the per-value counts of the question are queried.
func hasHistogram(spec QuestionSpec) bool {
	return (spec.Kind == KindNPS || spec.Kind == KindNumeric) &&
		spec.ScaleMax > spec.ScaleMin && spec.ScaleMax-spec.ScaleMin+1 <= maxHistogramValues
}

// column is one aggregate of the main query and what to do with its value.
type column struct {
	sql   string
	float bool
	apply func(a *metrics.Aggregate, n int64, f float64)
}

// question applies a column to a copy of question id's aggregate.
func question(id string, fn func(q *metrics.QuestionAggregate, n int64, f float64)) func(*metrics.Aggregate, int64, float64) {
	return func(a *metrics.Aggregate, n int64, f float64) {
		var q metrics.QuestionAggregate
		fn(&q, n, f)
		a.AddQuestion(id, q)
	}
}

func (s *sqlStore) aggregateMain(ctx context.Context, q AggregateQuery, part seqRange, specs []QuestionSpec, g string) (*AggregateResult, error) {
	b := &aggBuilder{groups: map[string]*metrics.Aggregate{}}
	ad := s.aggDialect()
	inner := []string{g + " AS g", "sentiment AS s"}
	middle := []string{"g", "s"}
	cols := []column{
		{sql: "count(*)", apply: func(a *metrics.Aggregate, n int64, _ float64) { a.Responses += n }},
		{sql: "count(s)", apply: func(a *metrics.Aggregate, n int64, _ float64) { a.SentimentCount += n }},
		{sql: ad.fsum("s"), float: true, apply: func(a *metrics.Aggregate, _ int64, f float64) { a.SentimentSum += f }},
		{sql: ad.fsum("s * s"), float: true, apply: func(a *metrics.Aggregate, _ int64, f float64) { a.SentimentSumSquares += f }},
	}
	add := func(expr string, fn func(q *metrics.QuestionAggregate, n int64, f float64), id string) {
		cols = append(cols, column{sql: expr, apply: question(id, fn)})
	}
	countIf := func(cond string) string { return "count(CASE WHEN " + cond + " THEN 1 END)" }
	col := map[string]string{} // question id -> typed column of the middle level
	for i, spec := range specs {
		v, n := "v"+strconv.Itoa(i), "n"+strconv.Itoa(i)
		switch spec.Kind {
		case KindNPS, KindNumeric:
			inner = append(inner, ad.raw(spec.ID)+" AS "+v)
			middle = append(middle, ad.number(v)+" AS "+n)
			col[spec.ID] = n
			add("count("+n+")", func(q *metrics.QuestionAggregate, c int64, _ float64) { q.Count = c }, spec.ID)
			add(ad.isum(n), func(q *metrics.QuestionAggregate, c int64, _ float64) { q.Sum = c }, spec.ID)
			add(ad.isum(n+" * "+n), func(q *metrics.QuestionAggregate, c int64, _ float64) { q.SumSquares = c }, spec.ID)
			switch {
			case hasHistogram(spec):
				for x := spec.ScaleMin; x <= spec.ScaleMax; x++ {
					add(countIf(n+" = "+strconv.Itoa(x)), func(q *metrics.QuestionAggregate, c int64, _ float64) {
						if c > 0 {
							q.Histogram = map[int]int64{x: c}
						}
					}, spec.ID)
				}
			case spec.ScaleMax > spec.ScaleMin:
				add(countIf(n+" >= "+strconv.Itoa(spec.ScaleMax-1)), func(q *metrics.QuestionAggregate, c int64, _ float64) { q.TopTwoBox = c }, spec.ID)
			}
		case KindYesNo:
			inner = append(inner, ad.rawBool(spec.ID)+" AS "+v)
			middle = append(middle, v)
			add(countIf(ad.yes(v)), func(q *metrics.QuestionAggregate, c int64, _ float64) { q.Yes = c }, spec.ID)
			add(countIf(ad.no(v)), func(q *metrics.QuestionAggregate, c int64, _ float64) { q.No = c }, spec.ID)
		}
	}
	for _, p := range q.Pairs {
		x, y := col[p[0]], col[p[1]]
		both := "CASE WHEN " + x + " IS NOT NULL AND " + y + " IS NOT NULL THEN "
		sums := []string{countIf(x + " IS NOT NULL AND " + y + " IS NOT NULL"),
			ad.fsum(both + x + " END"), ad.fsum(both + y + " END"),
			ad.fsum(both + x + " * " + x + " END"), ad.fsum(both + y + " * " + y + " END"),
			ad.fsum(x + " * " + y)}
		var ps metrics.PairedSums
		for i, sum := range sums {
			c := column{sql: sum, float: i > 0}
			c.apply = func(a *metrics.Aggregate, n int64, f float64) {
				switch i {
				case 0:
					ps = metrics.PairedSums{N: n}
				case 1:
					ps.SumX = f
				case 2:
					ps.SumY = f
				case 3:
					ps.SumXX = f
				case 4:
					ps.SumYY = f
				case 5:
					ps.SumXY = f
					if ps.N > 0 {
						a.MergePair(p[0], p[1], ps)
					}
				}
			}
			cols = append(cols, c)
		}
	}
	where, args := s.whereClause(q, part)
	outer := make([]string, len(cols))
	for i, c := range cols {
		outer[i] = c.sql
	}
	query := "SELECT g, " + strings.Join(outer, ", ") +
		" FROM (SELECT " + strings.Join(middle, ", ") +
		" FROM (SELECT " + strings.Join(inner, ", ") + " FROM responses" + where + ad.noFlatten + ") AS x" +
		ad.noFlatten + ") AS y GROUP BY g"
	rows, err := s.r.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ints := make([]int64, len(cols))
	floats := make([]float64, len(cols))
	dest := make([]any, len(cols)+1)
	var group sql.NullString
	dest[0] = &group
	for i, c := range cols {
		if c.float {
			dest[i+1] = &floats[i]
		} else {
			dest[i+1] = &ints[i]
		}
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		a := b.group(group.String)
		for i, c := range cols {
			c.apply(a, ints[i], floats[i])
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	b.deriveFromHistograms(specs)
	return b.result(), nil
}

func (s *sqlStore) aggregateThemes(ctx context.Context, q AggregateQuery, part seqRange, g string) (*AggregateResult, error) {
	b := &aggBuilder{groups: map[string]*metrics.Aggregate{}}
	ad := s.aggDialect()
	where, args := s.whereClause(q, part)
	if where == "" {
		where = " WHERE " + ad.hasThemes
	} else {
		where += " AND " + ad.hasThemes
	}
	query := "SELECT x.g, t.value, count(*), count(x.s), " + ad.fsum("x.s") + " FROM (SELECT " + g +
		" AS g, sentiment AS s, themes FROM responses" + where + ad.noFlatten + ") AS x" + ad.themes + " GROUP BY 1, 2"
	rows, err := s.r.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var group, theme sql.NullString
		var ta metrics.ThemeAggregate
		if err := rows.Scan(&group, &theme, &ta.Count, &ta.SentimentCount, &ta.SentimentSum); err != nil {
			return nil, err
		}
		a := b.group(group.String)
		if a.Themes == nil {
			a.Themes = map[string]metrics.ThemeAggregate{}
		}
		a.Themes[theme.String] = ta
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return b.result(), nil
}

func (s *sqlStore) aggregateChoices(ctx context.Context, q AggregateQuery, part seqRange, spec QuestionSpec, g string) (*AggregateResult, error) {
	res := &AggregateResult{}
	ad := s.aggDialect()
	where, args := s.whereClause(q, part)
	query := "SELECT x.g, c.value, count(*) FROM (SELECT " + g + " AS g, answers FROM responses" + where + ad.noFlatten +
		") AS x" + ad.choices(spec.ID) + " GROUP BY 1, 2"
	rows, err := s.r.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var group sql.NullString
		var value any
		var n int64
		if err := rows.Scan(&group, &value, &n); err != nil {
			return nil, err
		}
		res.AddChoice(group.String, spec.ID, choiceKey(value), n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// choiceKey renders a choice value the same way for both engines.
func choiceKey(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}
