package rules

import (
	"math/bits"
	"slices"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// An Index picks, for one response, the conditions that can match it, so
// that a touchpoint with many rules evaluates only the few whose inputs
// the response has: a rule scoped to one store is not run on the
// responses of the other stores.
//
// It reads each condition's checked expression for guards: facts that
// every response the condition matches has. A guard comes from a
// top-level conjunct (a && b && ...): a comparison of a string field with
// literals (metadata.store == 'berlin', customer.tier in ['Gold',
// 'Platinum'], has_theme('refund'), 'docs' in answers.blockers), a
// presence test (has(answers.ease), 'store' in metadata), or a value the
// conjunct reads strictly (answers.ease <= 4 fails without an answer, and
// so does metadata.agent.startsWith('a')). When a conjunct is false or an
// error the whole condition is false or an error, and a rule that fails
// does not match, so skipping a rule whose guard the response lacks never
// changes which rules match. Conditions without a guard are always
// evaluated.
//
// The guards are also the sub-expressions rules share: each field a
// guard names is read once per response, however many rules test it.
type Index struct {
	n      int
	guards [][]guard
	// always are the rules without a guard.
	always []int
	// byValue indexes each rule with a value guard by one of its values;
	// byPresence each rule with only presence guards by one of them.
	byValue    map[path]map[string][]int
	byPresence map[path][]int
	valuePaths []path
	presPaths  []path
}

// pathKind is what a guard reads.
type pathKind uint8

const (
	pathAnswer     pathKind = iota + 1 // answers.<key>
	pathMetadata                       // metadata.<key>
	pathCustomer                       // customer.<key>: id, tier or segment
	pathAttribute                      // customer.attributes.<key>
	pathTouchpoint                     // touchpoint
	pathThemes                         // themes
)

// path is one field of a response.
type path struct {
	kind pathKind
	key  string
}

// guard is a fact about every response a condition matches: path is
// present and, when values is not empty, has one of them (a list field:
// one of its elements is one of them).
type guard struct {
	path   path
	values []string
}

// NewIndex indexes the conditions progs, which must have been compiled in
// e. Candidates reports rules by their position in progs.
func (e *ResponseEnv) NewIndex(progs []*Program) *Index {
	x := &Index{
		n: len(progs), guards: make([][]guard, len(progs)),
		byValue: map[path]map[string][]int{}, byPresence: map[path][]int{},
	}
	nonStrict := e.nonStrictFunctions()
	for i, p := range progs {
		gs := e.guardsOf(p.c, nonStrict)
		x.guards[i] = gs
		// Index by the value guard with the fewest values, else by a
		// presence guard, else evaluate always.
		best := -1
		for j, g := range gs {
			if len(g.values) > 0 && (best < 0 || len(g.values) < len(gs[best].values)) {
				best = j
			}
		}
		switch {
		case best >= 0:
			g := gs[best]
			m := x.byValue[g.path]
			if m == nil {
				m = map[string][]int{}
				x.byValue[g.path] = m
				x.valuePaths = append(x.valuePaths, g.path)
			}
			for _, v := range g.values {
				if l := m[v]; len(l) == 0 || l[len(l)-1] != i {
					m[v] = append(l, i)
				}
			}
		case len(gs) > 0:
			g := gs[0]
			if _, ok := x.byPresence[g.path]; !ok {
				x.presPaths = append(x.presPaths, g.path)
			}
			x.byPresence[g.path] = append(x.byPresence[g.path], i)
		default:
			x.always = append(x.always, i)
		}
	}
	return x
}

// Len is the number of conditions indexed.
func (x *Index) Len() int { return x.n }

// Unguarded is how many conditions have no guard and run on every
// response.
func (x *Index) Unguarded() int { return len(x.always) }

// Candidates appends to buf, in ascending order, the positions of the
// conditions that can match the response of act (every condition that
// matches it is among them) and returns the result.
func (x *Index) Candidates(act *Activation, buf []int) []int {
	if x == nil || x.n == 0 {
		return buf
	}
	if act == nil || act.resp == nil {
		for i := range x.n {
			buf = append(buf, i)
		}
		return buf
	}
	set := make([]uint64, (x.n+63)/64)
	add := func(i int) { set[i/64] |= 1 << (i % 64) }
	for _, i := range x.always {
		add(i)
	}
	for _, p := range x.valuePaths {
		m := x.byValue[p]
		act.eachValue(p, func(v string) {
			for _, i := range m[v] {
				add(i)
			}
		})
	}
	for _, p := range x.presPaths {
		if act.present(p) {
			for _, i := range x.byPresence[p] {
				add(i)
			}
		}
	}
	for w, word := range set {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			i := w*64 + b
			if x.satisfied(i, act) {
				buf = append(buf, i)
			}
		}
	}
	return buf
}

// satisfied reports whether the response has every guard of rule i.
func (x *Index) satisfied(i int, act *Activation) bool {
	for _, g := range x.guards[i] {
		if !act.present(g.path) {
			return false
		}
		if len(g.values) == 0 {
			continue
		}
		found := false
		act.eachValue(g.path, func(v string) {
			if !found && slices.Contains(g.values, v) {
				found = true
			}
		})
		if !found {
			return false
		}
	}
	return true
}

// present reports whether the response has the field p: reading it is not
// an error.
func (a *Activation) present(p path) bool {
	r := a.resp
	switch p.kind {
	case pathAnswer:
		return a.answer(p.key) != nil
	case pathMetadata:
		_, ok := r.Metadata[p.key]
		return ok
	case pathAttribute:
		_, ok := r.Customer.Attributes[p.key]
		return ok
	case pathCustomer, pathTouchpoint, pathThemes:
		return true
	}
	return false
}

// eachValue calls f with each string value of p (none for an absent field
// or one that is not a string or list of strings).
func (a *Activation) eachValue(p path, f func(string)) {
	r := a.resp
	switch p.kind {
	case pathAnswer:
		switch v := a.answer(p.key).(type) {
		case types.String:
			f(string(v))
		case ref.Val:
			if l, ok := v.Value().([]string); ok {
				for _, s := range l {
					f(s)
				}
			}
		}
	case pathMetadata:
		if v, ok := r.Metadata[p.key]; ok {
			f(v)
		}
	case pathAttribute:
		if v, ok := r.Customer.Attributes[p.key]; ok {
			f(v)
		}
	case pathCustomer:
		if v, ok := a.customer.(*object).Get(types.String(p.key)).(types.String); ok {
			f(string(v))
		}
	case pathTouchpoint:
		f(r.Touchpoint)
	case pathThemes:
		for _, t := range r.Themes {
			f(t)
		}
	}
}

// answer is the converted answer to question id, nil when unanswered.
func (a *Activation) answer(id string) ref.Val {
	o, ok := a.answers.(*object)
	if !ok {
		return nil
	}
	i, ok := o.typ.index[id]
	if !ok {
		return nil
	}
	return o.vals[i]
}

// nonStrictFunctions are the functions that may return a value other than
// an error when an argument is an error: the logical operators, the
// conditional, the optional or/orValue (special-cased by the interpreter),
// optional selection, and any function the environment declares
// non-strict.
func (e *ResponseEnv) nonStrictFunctions() map[string]bool {
	ns := map[string]bool{
		operators.LogicalAnd: true, operators.LogicalOr: true, operators.Conditional: true,
		operators.NotStrictlyFalse: true,
		operators.OptSelect:        true, operators.OptIndex: true, "or": true, "orValue": true,
	}
	for name, fn := range e.env.Functions() {
		for _, o := range fn.OverloadDecls() {
			if o.IsNonStrict() {
				ns[name] = true
			}
		}
	}
	return ns
}

// guardsOf returns the guards of a condition.
func (e *ResponseEnv) guardsOf(c *compiled, nonStrict map[string]bool) []guard {
	if c.ast == nil || c.ast.NativeRep() == nil {
		return nil
	}
	var gs []guard
	addGuard := func(g guard) {
		for _, h := range gs {
			if h.path == g.path && slices.Equal(h.values, g.values) {
				return
			}
		}
		gs = append(gs, g)
	}
	for _, conj := range conjuncts(c.ast.NativeRep().Expr(), nil) {
		if g, ok := e.atom(conj); ok {
			addGuard(g)
		}
		e.strictReads(conj, nonStrict, func(p path) { addGuard(guard{path: p}) })
	}
	// A value guard implies its field is present.
	valued := map[path]bool{}
	for _, g := range gs {
		if len(g.values) > 0 {
			valued[g.path] = true
		}
	}
	return slices.DeleteFunc(gs, func(g guard) bool { return len(g.values) == 0 && valued[g.path] })
}

// conjuncts flattens the top-level && of an expression.
func conjuncts(x ast.Expr, out []ast.Expr) []ast.Expr {
	if x.Kind() == ast.CallKind {
		if call := x.AsCall(); call.FunctionName() == operators.LogicalAnd && !call.IsMemberFunction() {
			for _, a := range call.Args() {
				out = conjuncts(a, out)
			}
			return out
		}
	}
	return append(out, x)
}

// atom recognises a conjunct that compares a field with literals or tests
// its presence.
func (e *ResponseEnv) atom(x ast.Expr) (guard, bool) {
	switch x.Kind() {
	case ast.SelectKind:
		// has(answers.q), has(metadata.k), has(customer.attributes.k)
		if sel := x.AsSelect(); sel.IsTestOnly() {
			if p, ok := e.keyedPath(sel.Operand(), sel.FieldName()); ok {
				return guard{path: p}, true
			}
		}
	case ast.CallKind:
		call := x.AsCall()
		if call.IsMemberFunction() || len(call.Args()) != 2 {
			return guard{}, false
		}
		a, b := call.Args()[0], call.Args()[1]
		switch call.FunctionName() {
		case operators.Equals:
			if lit, ok := stringLiteral(a); ok {
				if p, ok := e.scalarStringPath(b); ok {
					return guard{path: p, values: []string{lit}}, true
				}
			} else if lit, ok := stringLiteral(b); ok {
				if p, ok := e.scalarStringPath(a); ok {
					return guard{path: p, values: []string{lit}}, true
				}
			}
		case operators.In:
			if lit, ok := stringLiteral(a); ok {
				// 'refund' in themes, 'docs' in answers.blockers
				if p, ok := e.listStringPath(b); ok {
					return guard{path: p, values: []string{lit}}, true
				}
				// 'store' in metadata, 'region' in customer.attributes
				if p, ok := e.keyedPath(b, lit); ok {
					return guard{path: p}, true
				}
				return guard{}, false
			}
			// customer.tier in ['Gold', 'Platinum']
			if p, ok := e.scalarStringPath(a); ok {
				if lits, ok := stringLiterals(b); ok && len(lits) > 0 {
					return guard{path: p, values: lits}, true
				}
			}
		}
	}
	return guard{}, false
}

// strictReads calls f with each field x reads in a way that makes x an
// error when the field is absent: not under a presence test, an optional
// selection, a logical operator or the branches of a conditional.
func (e *ResponseEnv) strictReads(x ast.Expr, nonStrict map[string]bool, f func(path)) {
	if p, ok := e.readPath(x); ok {
		f(p)
		return
	}
	switch x.Kind() {
	case ast.SelectKind:
		if sel := x.AsSelect(); !sel.IsTestOnly() {
			e.strictReads(sel.Operand(), nonStrict, f)
		}
	case ast.CallKind:
		call := x.AsCall()
		if nonStrict[call.FunctionName()] {
			if call.FunctionName() == operators.Conditional && len(call.Args()) == 3 {
				e.strictReads(call.Args()[0], nonStrict, f)
			}
			return
		}
		if call.IsMemberFunction() {
			e.strictReads(call.Target(), nonStrict, f)
		}
		for _, a := range call.Args() {
			e.strictReads(a, nonStrict, f)
		}
	case ast.ComprehensionKind:
		e.strictReads(x.AsComprehension().IterRange(), nonStrict, f)
	case ast.ListKind:
		if l := x.AsList(); len(l.OptionalIndices()) == 0 {
			for _, el := range l.Elements() {
				e.strictReads(el, nonStrict, f)
			}
		}
	}
}

// readPath recognises the read of a field that is an error when absent:
// answers.q, metadata.k and customer.attributes.k (or with [...]).
func (e *ResponseEnv) readPath(x ast.Expr) (path, bool) {
	switch x.Kind() {
	case ast.SelectKind:
		if sel := x.AsSelect(); !sel.IsTestOnly() {
			return e.keyedPath(sel.Operand(), sel.FieldName())
		}
	case ast.CallKind:
		call := x.AsCall()
		if call.FunctionName() == operators.Index && !call.IsMemberFunction() && len(call.Args()) == 2 {
			if key, ok := stringLiteral(call.Args()[1]); ok {
				return e.keyedPath(call.Args()[0], key)
			}
		}
	}
	return path{}, false
}

// keyedPath is the field key of the map or object operand: answers,
// metadata or customer.attributes.
func (e *ResponseEnv) keyedPath(operand ast.Expr, key string) (path, bool) {
	switch {
	case isIdent(operand, varAnswers):
		if _, ok := e.questions[key]; ok {
			return path{kind: pathAnswer, key: key}, true
		}
	case isIdent(operand, varMetadata):
		return path{kind: pathMetadata, key: key}, true
	case operand.Kind() == ast.SelectKind:
		sel := operand.AsSelect()
		if !sel.IsTestOnly() && sel.FieldName() == "attributes" && isIdent(sel.Operand(), varCustomer) {
			return path{kind: pathAttribute, key: key}, true
		}
	}
	return path{}, false
}

// scalarStringPath recognises a string-valued field.
func (e *ResponseEnv) scalarStringPath(x ast.Expr) (path, bool) {
	if isIdent(x, varTouchpoint) {
		return path{kind: pathTouchpoint}, true
	}
	if x.Kind() == ast.SelectKind {
		sel := x.AsSelect()
		if !sel.IsTestOnly() && isIdent(sel.Operand(), varCustomer) {
			// id, tier and segment (attributes is a map).
			if f, ok := customerType.fields[sel.FieldName()]; ok && f.Type == types.StringType {
				return path{kind: pathCustomer, key: sel.FieldName()}, true
			}
			return path{}, false
		}
	}
	p, ok := e.readPath(x)
	if !ok {
		return path{}, false
	}
	if p.kind == pathAnswer {
		q := e.questions[p.key]
		if q.Type != cxv1alpha1.QuestionText && (q.Type != cxv1alpha1.QuestionChoice || q.AllowMultiple) {
			return path{}, false
		}
	}
	return p, true
}

// listStringPath recognises a list of strings: themes, or the answer to a
// Choice question that allows several.
func (e *ResponseEnv) listStringPath(x ast.Expr) (path, bool) {
	if isIdent(x, varThemes) {
		return path{kind: pathThemes}, true
	}
	p, ok := e.readPath(x)
	if !ok || p.kind != pathAnswer {
		return path{}, false
	}
	if q := e.questions[p.key]; q.Type != cxv1alpha1.QuestionChoice || !q.AllowMultiple {
		return path{}, false
	}
	return p, true
}

func isIdent(x ast.Expr, name string) bool {
	return x.Kind() == ast.IdentKind && x.AsIdent() == name
}

func stringLiteral(x ast.Expr) (string, bool) {
	if x.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := x.AsLiteral().(types.String)
	return string(s), ok
}

func stringLiterals(x ast.Expr) ([]string, bool) {
	if x.Kind() != ast.ListKind {
		return nil, false
	}
	l := x.AsList()
	if len(l.OptionalIndices()) > 0 {
		return nil, false
	}
	out := make([]string, 0, l.Size())
	for _, el := range l.Elements() {
		s, ok := stringLiteral(el)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// String names the field as a condition reads it.
func (p path) String() string {
	switch p.kind {
	case pathAnswer:
		return "answers." + p.key
	case pathMetadata:
		return "metadata." + p.key
	case pathCustomer:
		return "customer." + p.key
	case pathAttribute:
		return "customer.attributes." + p.key
	case pathTouchpoint:
		return "touchpoint"
	case pathThemes:
		return "themes"
	}
	return "?"
}
