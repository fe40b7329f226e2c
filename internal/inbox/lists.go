package inbox

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
)

// View is which Cases a list shows.
type View string

// Views of the list.
const (
	// ViewMine: open Cases assigned to me.
	ViewMine View = "mine"
	// ViewTeam: open Cases of the templates whose team I am on.
	ViewTeam View = "team"
	// ViewAll: every Case I may see, closed ones too.
	ViewAll View = "all"
)

// Query is a list request: a view and filters, all from the URL.
type Query struct {
	View       View
	Namespace  string
	State      cxv1alpha1.CaseState
	Severity   cxv1alpha1.Severity
	Template   string
	Touchpoint string
	// Customer matches customer ids containing it (case-insensitive).
	Customer    string
	OverdueOnly bool
	Limit       int
}

func parseQuery(v url.Values) Query {
	q := Query{
		View: View(v.Get("view")), Namespace: v.Get("namespace"), State: cxv1alpha1.CaseState(v.Get("state")),
		Severity: cxv1alpha1.Severity(v.Get("severity")), Template: v.Get("template"), Touchpoint: v.Get("touchpoint"),
		Customer: strings.TrimSpace(v.Get("customer")), OverdueOnly: v.Get("overdue") == "1", Limit: 200,
	}
	if q.View != ViewTeam && q.View != ViewAll {
		q.View = ViewMine
	}
	return q
}

// Counts are the numbers at the top of the list.
type Counts struct {
	MineOpen, MineOverdue int
	TeamOpen, TeamOverdue int
	AllOpen, AllOverdue   int
	// Matching is how many Cases the query matched (Rows may hold fewer).
	Matching int
}

// ListResult is a list page's data.
type ListResult struct {
	Rows   []Row
	Counts Counts
	// Namespaces the person may list, and the templates and touchpoints
	// seen in them (filter choices).
	Namespaces, Templates, Touchpoints []string
}

func (q Query) matches(r *Row, mine, onTeam bool, now time.Time) bool {
	switch q.View {
	case ViewMine:
		if !mine || !r.open() {
			return false
		}
	case ViewTeam:
		if !onTeam || !r.open() {
			return false
		}
	}
	if q.Namespace != "" && r.Namespace != q.Namespace ||
		q.State != "" && r.State != q.State ||
		q.Severity != "" && r.Severity != q.Severity ||
		q.Template != "" && r.Template != q.Template ||
		q.Touchpoint != "" && r.Touchpoint != q.Touchpoint ||
		q.OverdueOnly && !r.overdue(now) {
		return false
	}
	return q.Customer == "" || containsFold(r.CustomerID, q.Customer)
}

// rowLess orders a list: overdue first (the longest overdue on top), then
// the nearest deadline, then severity, then name.
func rowLess(now time.Time) func(a, b Row) int {
	less := rowPtrLess(now)
	return func(a, b Row) int { return less(&a, &b) }
}

func rowPtrLess(now time.Time) func(a, b *Row) int {
	return func(a, b *Row) int {
		ao, bo := a.overdue(now), b.overdue(now)
		if ao != bo {
			if ao {
				return -1
			}
			return 1
		}
		if a.DueAt.IsZero() != b.DueAt.IsZero() {
			if a.DueAt.IsZero() {
				return 1
			}
			return -1
		}
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		if c := cmp.Compare(cases.SeverityRank(b.Severity), cases.SeverityRank(a.Severity)); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	}
}

// allowedNamespaces are the namespaces with Cases the person may list.
func (s *Server) allowedNamespaces(ctx context.Context, id Identity) ([]string, error) {
	var out []string
	for _, ns := range s.board.namespaces() {
		ok, err := s.access.mayList(ctx, id, ns)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ns)
		}
	}
	return out, nil
}

// list answers a list query for a person from the board.
func (s *Server) list(ctx context.Context, id Identity, q Query) (ListResult, error) {
	now := s.now()
	namespaces, err := s.allowedNamespaces(ctx, id)
	if err != nil {
		return ListResult{}, err
	}
	res := ListResult{Namespaces: namespaces}
	// The board replaces a Row on every change and never edits one, so
	// the matches are kept by pointer and only the page's rows copied.
	var matched []*Row
	templates, touchpoints := map[string]bool{}, map[string]bool{}
	customer := strings.ToLower(q.Customer)
	q.Customer = customer
	for _, ns := range namespaces {
		// Team membership once per template, not per Case.
		teamOf := map[string]bool{}
		s.board.scan(ns, func(r *Row, t team) {
			onTeam, seen := teamOf[r.Template]
			if !seen {
				onTeam = includes(t.managers, id) || includes(t.members, id)
				teamOf[r.Template] = onTeam
				templates[r.Template] = true
			}
			if r.Touchpoint != "" && !touchpoints[r.Touchpoint] {
				touchpoints[r.Touchpoint] = true
			}
			mine := r.Assignee == id.User
			if r.open() {
				od := r.overdue(now)
				res.Counts.AllOpen++
				if od {
					res.Counts.AllOverdue++
				}
				if mine {
					res.Counts.MineOpen++
					if od {
						res.Counts.MineOverdue++
					}
				}
				if onTeam {
					res.Counts.TeamOpen++
					if od {
						res.Counts.TeamOverdue++
					}
				}
			}
			if q.matches(r, mine, onTeam, now) {
				matched = append(matched, r)
			}
		})
	}
	res.Counts.Matching = len(matched)
	slices.SortFunc(matched, rowPtrLess(now))
	if q.Limit > 0 && len(matched) > q.Limit {
		matched = matched[:q.Limit]
	}
	res.Rows = make([]Row, len(matched))
	for i, r := range matched {
		res.Rows[i] = *r
	}
	res.Templates = sortedKeys(templates)
	res.Touchpoints = sortedKeys(touchpoints)
	return res, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Overview is a manager's page: open and overdue by template and by
// assignee, closed within goal in the last 7 days, the oldest overdue.
type Overview struct {
	ByTemplate, ByAssignee []Tally
	// ClosedLastWeek and ClosedWithinGoal count Cases closed in the last 7
	// days, and those closed by their deadline.
	ClosedLastWeek, ClosedWithinGoal int
	OldestOverdue                    []Row
}

// Tally is open and overdue Cases of one template or assignee.
type Tally struct {
	Namespace, Name string
	Open, Overdue   int
}

// overview covers the Cases of the templates the person manages, or every
// Case they may see when they manage none.
func (s *Server) overview(ctx context.Context, id Identity) (Overview, bool, error) {
	now := s.now()
	namespaces, err := s.allowedNamespaces(ctx, id)
	if err != nil {
		return Overview{}, false, err
	}
	type key struct{ ns, name string }
	var rows []Row
	managesAny := false
	for _, ns := range namespaces {
		s.board.scan(ns, func(r *Row, t team) {
			if includes(t.managers, id) {
				if !managesAny {
					managesAny, rows = true, rows[:0]
				}
				rows = append(rows, *r)
			} else if !managesAny {
				rows = append(rows, *r)
			}
		})
	}
	byTemplate, byAssignee := map[key]*Tally{}, map[key]*Tally{}
	var ov Overview
	weekAgo := now.Add(-7 * 24 * time.Hour)
	for i := range rows {
		r := &rows[i]
		if r.State == cxv1alpha1.CaseClosed && !r.ClosedAt.IsZero() && r.ClosedAt.After(weekAgo) {
			ov.ClosedLastWeek++
			if r.DueAt.IsZero() || !r.ClosedAt.After(r.DueAt) {
				ov.ClosedWithinGoal++
			}
		}
		if !r.open() {
			continue
		}
		for _, m := range []struct {
			tallies map[key]*Tally
			k       key
		}{{byTemplate, key{r.Namespace, r.Template}}, {byAssignee, key{r.Namespace, cmp.Or(r.Assignee, "(unassigned)")}}} {
			t := m.tallies[m.k]
			if t == nil {
				t = &Tally{Namespace: m.k.ns, Name: m.k.name}
				m.tallies[m.k] = t
			}
			t.Open++
			if r.overdue(now) {
				t.Overdue++
			}
		}
		if r.overdue(now) {
			ov.OldestOverdue = append(ov.OldestOverdue, *r)
		}
	}
	flatten := func(m map[key]*Tally) []Tally {
		out := make([]Tally, 0, len(m))
		for _, t := range m {
			out = append(out, *t)
		}
		slices.SortFunc(out, func(a, b Tally) int {
			return cmp.Or(cmp.Compare(b.Overdue, a.Overdue), cmp.Compare(b.Open, a.Open), cmp.Compare(a.Namespace+a.Name, b.Namespace+b.Name))
		})
		return out
	}
	ov.ByTemplate, ov.ByAssignee = flatten(byTemplate), flatten(byAssignee)
	slices.SortFunc(ov.OldestOverdue, rowLess(now))
	if len(ov.OldestOverdue) > 10 {
		ov.OldestOverdue = ov.OldestOverdue[:10]
	}
	return ov, managesAny, nil
}

// containsFold reports whether s contains the lower-case ASCII needle,
// ignoring ASCII case, without allocating.
func containsFold(s, needle string) bool {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
