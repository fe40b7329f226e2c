package metrics

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
	all := make([]Aggregate, 0, len(r.Groups))
	for _, a := range r.Groups {
		all = append(all, a)
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
