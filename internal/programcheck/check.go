package programcheck

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cxloop/cxloop/internal/crdcheck"
	"github.com/cxloop/cxloop/internal/manifest"
	"github.com/cxloop/cxloop/internal/validate"
)

// Sources of a Finding.
const (
	// SourceSchema is the CRD schema and its CEL rules (the API server).
	SourceSchema = "schema"
	// SourceProgram is the controllers' checks.
	SourceProgram = "program"
	// SourceManifest is a document that is not an object of a known kind.
	SourceManifest = "manifest"
)

// Finding is one problem, where it was written.
type Finding struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Field is the path the API server or controller names
	// ("spec.routes[0].when"); empty when the problem is the whole object.
	Field string `json:"field,omitempty"`
	// Message is the API server's message (the cause's message of its 422
	// answer) or the controller's (its Ready condition's line).
	Message string `json:"message"`
	// Source says who would report it: schema, program or manifest.
	Source string `json:"source"`
	// Reason is the controller's condition reason (program findings).
	Reason string `json:"reason,omitempty"`
}

// String is "file:line: Kind/name: field: message".
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: %s/%s: ", f.File, f.Line, f.Kind, f.Name)
	if f.Field != "" {
		b.WriteString(f.Field + ": ")
	}
	b.WriteString(f.Message)
	return b.String()
}

// Options of Check.
type Options struct {
	// Namespace is the namespace of objects that set none (kubectl's -n);
	// default "default".
	Namespace string
}

// Result is what Check found.
type Result struct {
	// Findings in the order of the documents.
	Findings []Finding `json:"findings"`
	// Objects is how many cxloop objects were checked.
	Objects int `json:"objects"`
	// Documents is how many documents were read.
	Documents int `json:"documents"`
}

// stored is an object as the in-memory API server holds it.
type stored struct {
	doc *manifest.Document
	obj *unstructured.Unstructured
}

type objectKey struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

// apply applies docs in order to an in-memory API server: what it would
// store, in order of creation, and the schema findings.
func apply(ctx context.Context, docs []manifest.Document, opts Options) (map[objectKey]*stored, []objectKey, Result, error) {
	checker, err := crdcheck.New()
	if err != nil {
		return nil, nil, Result{}, fmt.Errorf("load the CRDs: %w", err)
	}
	defaultNS := opts.Namespace
	if defaultNS == "" {
		defaultNS = "default"
	}
	res := Result{Documents: len(docs)}
	store := map[objectKey]*stored{}
	var order []objectKey
	for i := range docs {
		d := &docs[i]
		u := d.Object
		gvk := u.GroupVersionKind()
		if !checker.HandlesGroup(gvk.Group) {
			continue // not ours: Secrets, ConfigMaps, Namespaces...
		}
		res.Objects++
		ns := u.GetNamespace()
		if ns == "" {
			ns = d.Namespace
		}
		if ns == "" {
			ns = defaultNS
		}
		finding := func(field, msg, source string) {
			res.Findings = append(res.Findings, Finding{
				File: d.File, Line: d.FieldLine(field), Namespace: ns, Kind: u.GetKind(), Name: u.GetName(),
				Field: field, Message: msg, Source: source,
			})
		}
		if !checker.Handles(gvk) {
			finding("apiVersion", fmt.Sprintf("no kind %q in version %q; the cxloop kinds are %s",
				gvk.Kind, gvk.GroupVersion(), strings.Join(checker.Kinds(), ", ")), SourceManifest)
			continue
		}
		key := objectKey{gk: gvk.GroupKind(), namespace: ns, name: u.GetName()}
		prev := store[key]
		var r crdcheck.Result
		if prev == nil || u.GetName() == "" {
			r, err = checker.Create(ctx, u, ns)
		} else {
			r, err = checker.Update(ctx, u, prev.obj, ns)
		}
		if err != nil {
			finding("", err.Error(), SourceManifest)
			continue
		}
		for _, p := range r.UnknownFields {
			finding(p, fmt.Sprintf("unknown field %q", p), SourceSchema)
		}
		for _, e := range r.Errors {
			field := e.Field
			if field == "<nil>" {
				field = ""
			}
			finding(field, e.ErrorBody(), SourceSchema)
		}
		if len(r.UnknownFields) > 0 || len(r.Errors) > 0 || r.Object == nil {
			continue // refused: the stored object (if any) stays as it was
		}
		if prev == nil {
			order = append(order, key)
		}
		store[key] = &stored{doc: d, obj: r.Object}
	}

	return store, order, res, nil
}

// Check applies docs in order and checks the program they make.
func Check(ctx context.Context, docs []manifest.Document, opts Options) (Result, error) {
	store, order, res, err := apply(ctx, docs, opts)
	if err != nil {
		return res, err
	}
	programs, namespaces, err := group(store, order)
	if err != nil {
		return res, err
	}
	var programFindings []Finding
	for _, ns := range namespaces {
		p := programs[ns]
		for _, op := range p.Validate() {
			s := p.where[op.Kind+"/"+op.Name]
			for _, prob := range op.Problems {
				programFindings = append(programFindings, Finding{
					File: s.doc.File, Line: s.doc.FieldLine(prob.Field), Namespace: ns, Kind: op.Kind, Name: op.Name,
					Field: prob.Field, Message: prob.Message, Source: SourceProgram, Reason: prob.Reason,
				})
			}
		}
	}
	sort.SliceStable(programFindings, func(i, j int) bool {
		a, b := programFindings[i], programFindings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	res.Findings = append(res.Findings, programFindings...)
	return res, nil
}

// group makes the program of each namespace, in the order applied.
func group(store map[objectKey]*stored, order []objectKey) (map[string]*program, []string, error) {
	programs := map[string]*program{}
	var namespaces []string
	for _, key := range order {
		p := programs[key.namespace]
		if p == nil {
			p = &program{where: map[string]*stored{}}
			programs[key.namespace] = p
			namespaces = append(namespaces, key.namespace)
		}
		if err := p.add(store[key]); err != nil {
			return nil, nil, err
		}
	}
	sort.Strings(namespaces)
	return programs, namespaces, nil
}

// Program is the program docs make once applied (objects the API server
// refuses are left out), for tools that run it: the objects of the one
// namespace they are in. More than one namespace is an error.
func Program(ctx context.Context, docs []manifest.Document, opts Options) (*validate.Program, error) {
	store, order, _, err := apply(ctx, docs, opts)
	if err != nil {
		return nil, err
	}
	programs, namespaces, err := group(store, order)
	if err != nil {
		return nil, err
	}
	switch len(namespaces) {
	case 0:
		return &validate.Program{}, nil
	case 1:
		return &programs[namespaces[0]].Program, nil
	}
	return nil, fmt.Errorf("the manifests are in %d namespaces (%s); give one program", len(namespaces), strings.Join(namespaces, ", "))
}

// program is the validate.Program of one namespace and where each object
// was written.
type program struct {
	validate.Program
	where map[string]*stored
}

func (p *program) add(s *stored) error {
	u := s.obj
	p.where[u.GetKind()+"/"+u.GetName()] = s
	var err error
	switch u.GetKind() {
	case validate.KindSurveyTouchpoint:
		err = appendTyped(u, &p.Touchpoints)
	case validate.KindAlertRule:
		err = appendTyped(u, &p.AlertRules)
	case validate.KindCaseTemplate:
		err = appendTyped(u, &p.CaseTemplates)
	case validate.KindCase:
		err = appendTyped(u, &p.Cases)
	case validate.KindReportSubscription:
		err = appendTyped(u, &p.ReportSubscriptions)
	case validate.KindNotificationChannel:
		err = appendTyped(u, &p.NotificationChannels)
	}
	if err != nil {
		return fmt.Errorf("%s:%d: %s/%s: %w", s.doc.File, s.doc.Line, u.GetKind(), u.GetName(), err)
	}
	return nil
}

// appendTyped converts u to T and appends it to list.
func appendTyped[T any](u *unstructured.Unstructured, list *[]T) error {
	var o T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &o); err != nil {
		return err
	}
	*list = append(*list, o)
	return nil
}
