package metrics

import "sort"

// GroupedAggregate holds mergeable aggregates per group: the result of an
// aggregate query over a store (the collector's /v1/metrics API). Results
// of several touchpoints or collectors merge exactly with Merge.
type GroupedAggregate struct {
	// GroupBy echoes the query's GroupBy.
	GroupBy string `json:"groupBy,omitempty"`
	// Groups by group value ("" for responses without one, or when not
	// grouped).
	Groups map[string]Aggregate `json:"groups"`
	// Choices counts the answers of Choice questions per value: group ->
	// question id -> value -> count (a list answer counts each value).
	Choices map[string]map[string]map[string]int64 `json:"choices,omitempty"`
	// Capped is true when there were more groups than a cap: Groups holds
	// the largest ones, Other the rest merged, OtherGroups how many.
	Capped      bool       `json:"capped,omitempty"`
	OtherGroups int        `json:"otherGroups,omitempty"`
	Other       *Aggregate `json:"other,omitempty"`
}

// Cap keeps the n groups with the most responses (ties by name) and merges
// the others into Other, so the totals stay exact.
func (r *GroupedAggregate) Cap(n int) {
	if n <= 0 || len(r.Groups) <= n {
		return
	}
	keys := make([]string, 0, len(r.Groups))
	for k := range r.Groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := r.Groups[keys[i]].Responses, r.Groups[keys[j]].Responses
		if a != b {
			return a > b
		}
		return keys[i] < keys[j]
	})
	rest := make([]Aggregate, 0, len(keys)-n+1)
	if r.Other != nil {
		rest = append(rest, *r.Other)
	}
	for _, k := range keys[n:] {
		rest = append(rest, r.Groups[k])
		delete(r.Groups, k)
		delete(r.Choices, k)
	}
	other := Merge(rest...)
	r.Capped, r.OtherGroups, r.Other = true, r.OtherGroups+len(keys)-n, &other
}

// Merge adds o into r.
func (r *GroupedAggregate) Merge(o *GroupedAggregate) {
	if o == nil {
		return
	}
	r.Groups = MergeGroups(r.Groups, o.Groups)
	if r.Groups == nil {
		r.Groups = map[string]Aggregate{}
	}
	if o.Other != nil {
		other := *o.Other
		if r.Other != nil {
			other = Merge(*r.Other, other)
		}
		r.Other = &other
		r.Capped, r.OtherGroups = true, r.OtherGroups+o.OtherGroups
	}
	for g, qs := range o.Choices {
		for q, vs := range qs {
			for v, n := range vs {
				r.AddChoice(g, q, v, n)
			}
		}
	}
}

// Total merges all groups into one aggregate.
func (r *GroupedAggregate) Total() Aggregate {
	all := make([]Aggregate, 0, len(r.Groups)+1)
	for _, a := range r.Groups {
		all = append(all, a)
	}
	if r.Other != nil {
		all = append(all, *r.Other)
	}
	return Merge(all...)
}

// AddChoice counts n answers value of the Choice question in group.
func (r *GroupedAggregate) AddChoice(group, question, value string, n int64) {
	if r.Choices == nil {
		r.Choices = map[string]map[string]map[string]int64{}
	}
	if r.Choices[group] == nil {
		r.Choices[group] = map[string]map[string]int64{}
	}
	if r.Choices[group][question] == nil {
		r.Choices[group][question] = map[string]int64{}
	}
	r.Choices[group][question][value] += n
}
