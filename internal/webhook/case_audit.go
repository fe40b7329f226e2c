package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// CasePath is where the manager serves CaseAudit.
const CasePath = "/mutate-cx-cxloop-io-v1alpha1-case"

// DefaultSkew is how far from the server's clock a client may date an
// action.
const DefaultSkew = 2 * time.Minute

// CaseAudit is the mutating admission webhook for Cases.
type CaseAudit struct {
	Decoder admission.Decoder
	// Now is the server's clock (default time.Now).
	Now func() time.Time
	// Skew is how far a new action's `at` may be from Now (default
	// DefaultSkew).
	Skew time.Duration
}

// NewCaseAudit returns the webhook for the scheme's Case type.
func NewCaseAudit(scheme *runtime.Scheme) *CaseAudit {
	return &CaseAudit{Decoder: admission.NewDecoder(scheme)}
}

// Handle stamps and checks new actions and logs changes of state, assignee
// and severity.
func (w *CaseAudit) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	c := &cxv1alpha1.Case{}
	if err := w.Decoder.Decode(req, c); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode case: %w", err))
	}
	old := &cxv1alpha1.Case{}
	if req.Operation == admissionv1.Update {
		if err := w.Decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode old case: %w", err))
		}
	}
	actions, err := w.audit(old, c, req.UserInfo.Username)
	if err != nil {
		return admission.Denied(err.Error())
	}
	if actions == nil {
		return admission.Allowed("")
	}
	// The whole log is replaced (it is a listType=atomic list), or added
	// when the request had none.
	op := "replace"
	if len(c.Spec.Actions) == 0 {
		op = "add"
	}
	var value any
	raw, err := json.Marshal(actions)
	if err == nil {
		err = json.Unmarshal(raw, &value)
	}
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.Patched("", jsonpatch.JsonPatchOperation{Operation: op, Path: "/spec/actions", Value: value})
}

// audit returns the Case's new action log, or nil when it stays as sent.
// old is empty on CREATE.
func (w *CaseAudit) audit(old, c *cxv1alpha1.Case, user string) ([]cxv1alpha1.CaseAction, error) {
	now := w.now().UTC().Truncate(time.Second)
	skew := w.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	actions := append([]cxv1alpha1.CaseAction(nil), c.Spec.Actions...)
	changed := false
	// Entries before len(old) were there before (the CRD keeps the log
	// append-only); every later one is new.
	for i := len(old.Spec.Actions); i < len(actions); i++ {
		a := &actions[i]
		if a.At.IsZero() {
			a.At = metav1.NewTime(now)
			changed = true
			continue
		}
		if d := a.At.Sub(now); d > skew || d < -skew {
			return nil, fmt.Errorf("spec.actions[%d].at: %s is %s from the server's time %s; an action is dated when it is logged: "+
				"omit at (the server sets it) or use the current time (within %s)",
				i, a.At.UTC().Format(time.RFC3339), absDuration(d).Round(time.Second), now.Format(time.RFC3339), skew)
		}
	}
	if old.Name != "" { // UPDATE
		// A client that logs the change itself (the inbox does) keeps its
		// entry, now dated by the server; no second one is added.
		logged := map[cxv1alpha1.ActionType]bool{}
		for _, a := range actions[len(old.Spec.Actions):] {
			if a.By == user {
				logged[a.Type] = true
			}
		}
		add := func(typ cxv1alpha1.ActionType, text string) {
			if logged[typ] {
				return
			}
			actions = append(actions, cxv1alpha1.CaseAction{At: metav1.NewTime(now), By: user, Type: typ, Text: text})
			changed = true
		}
		if from, to := stateOf(old), stateOf(c); from != to {
			add(cxv1alpha1.ActionStateChanged, fmt.Sprintf("state: %s → %s", from, to))
		}
		// Setting an empty assignee or severity is the template's default
		// at opening, not a change.
		if from, to := old.Spec.Assignee, c.Spec.Assignee; from != "" && from != to {
			add(cxv1alpha1.ActionReassigned, fmt.Sprintf("assignee: %s → %s", from, orNone(to)))
		}
		if from, to := old.Spec.Severity, c.Spec.Severity; from != "" && from != to {
			add(cxv1alpha1.ActionEscalated, fmt.Sprintf("severity: %s → %s", from, orNone(string(to))))
		}
	}
	if !changed {
		return nil, nil
	}
	return actions, nil
}

func (w *CaseAudit) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func stateOf(c *cxv1alpha1.Case) cxv1alpha1.CaseState {
	if c.Spec.State == "" {
		return cxv1alpha1.CaseOpen
	}
	return c.Spec.State
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
