package inbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Forms a Case page posts, by the last path segment.
const (
	formAction   = "actions"
	formState    = "state"
	formClose    = "close"
	formSeverity = "severity"
	formAssignee = "assignee"
)

// errInput is a form value the inbox cannot turn into a change at all (a
// missing field); everything else is the API server's to decide.
type errInput struct{ msg string }

func (e errInput) Error() string { return e.msg }

// parseChange reads a form into a change. It checks only what is needed to
// build the request; who may do it is the API server's decision.
func parseChange(op string, f url.Values) (change, error) {
	text := strings.TrimSpace(f.Get("text"))
	if utf8.RuneCountInString(text) > 2000 {
		return change{}, errInput{"the text is longer than 2000 characters"}
	}
	switch op {
	case formAction:
		var ch change
		switch f.Get("kind") {
		case "call":
			ch = change{kind: kindAction, actionType: cxv1alpha1.ActionCustomerContacted, text: "Called the customer"}
		case "email":
			ch = change{kind: kindAction, actionType: cxv1alpha1.ActionCustomerContacted, text: "Emailed the customer"}
		case "note":
			if text == "" {
				return change{}, errInput{"write the note"}
			}
			return change{kind: kindAction, actionType: cxv1alpha1.ActionNote, text: text}, nil
		default:
			return change{}, errInput{"choose call, email or note"}
		}
		if text != "" {
			ch.text += ": " + text
		}
		return ch, nil
	case formState:
		to := cxv1alpha1.CaseState(f.Get("to"))
		if to == "" {
			return change{}, errInput{"choose the state to move to"}
		}
		return change{kind: kindState, to: to}, nil
	case formClose:
		res := &cxv1alpha1.Resolution{RootCause: f.Get("rootCause"), Summary: strings.TrimSpace(f.Get("summary"))}
		switch f.Get("recovered") {
		case "yes":
			res.CustomerRecovered = new(true)
		case "no":
			res.CustomerRecovered = new(false)
		}
		return change{kind: kindClose, to: cxv1alpha1.CaseClosed, resolution: res}, nil
	case formSeverity:
		return change{kind: kindSeverity, severity: cxv1alpha1.Severity(f.Get("severity"))}, nil
	case formAssignee:
		a := strings.TrimSpace(f.Get("assignee"))
		if a == "" {
			return change{}, errInput{"name the person to assign the Case to"}
		}
		return change{kind: kindAssignee, assignee: a}, nil
	}
	return change{}, errInput{fmt.Sprintf("unknown change %q", op)}
}

// serveChange applies a form to the Case as the person. On success it
// redirects to the Case page; on an error it shows the page again with
// the error next to the form that caused it.
func (s *Server) serveChange(w http.ResponseWriter, r *http.Request, id Identity) {
	op := r.PathValue("op")
	if !slices.Contains([]string{formAction, formState, formClose, formSeverity, formAssignee}, op) {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !validCSRF(s.csrf, id, r.PostForm.Get("csrf")) {
		http.Error(w, "the form's token is missing or not yours: reload the page and try again", http.StatusForbidden)
		return
	}
	ch, err := parseChange(op, r.PostForm)
	if err == nil {
		err = s.applyChange(r.Context(), id, r.PathValue("ns"), r.PathValue("name"), ch)
	}
	if err != nil {
		status := http.StatusUnprocessableEntity
		var ie errInput
		if !errors.As(err, &ie) {
			status = statusOf(err)
		}
		s.showCase(w, r, id, status, map[string]string{op: apiMessage(err)}, r.PostForm)
		return
	}
	http.Redirect(w, r, casePath(r.PathValue("ns"), r.PathValue("name")), http.StatusSeeOther)
}

// applyChange reads the Case as the person, applies the change and updates
// it as the person; a conflict with another writer reads and applies again.
func (s *Server) applyChange(ctx context.Context, id Identity, namespace, name string, ch change) error {
	c, err := s.im.client(id)
	if err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cs := &cxv1alpha1.Case{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cs); err != nil {
			return err
		}
		ch.apply(cs, id.User, s.now())
		return c.Update(ctx, cs)
	})
}

func casePath(ns, name string) string {
	return "/namespaces/" + url.PathEscape(ns) + "/cases/" + url.PathEscape(name)
}

// apiMessage is the API server's own words, which name the rule or field
// (an admission policy's message, a CRD validation).
func apiMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return cmp.Or(st.Status().Message, err.Error())
	}
	return err.Error()
}

func statusOf(err error) int {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code >= 400 {
		return int(st.Status().Code)
	}
	return http.StatusBadGateway
}
