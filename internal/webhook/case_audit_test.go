package webhook

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestCaseAudit(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	w := &CaseAudit{Now: func() time.Time { return now }}
	note := func(at time.Time, by string) cxv1alpha1.CaseAction {
		return cxv1alpha1.CaseAction{At: metav1.NewTime(at), By: by, Type: cxv1alpha1.ActionNote, Text: "called"}
	}
	base := func() *cxv1alpha1.Case {
		return &cxv1alpha1.Case{
			ObjectMeta: metav1.ObjectMeta{Name: "c"},
			Spec: cxv1alpha1.CaseSpec{Template: "t", State: cxv1alpha1.CaseOpen, Severity: cxv1alpha1.SeverityNormal, Assignee: "jonas",
				Actions: []cxv1alpha1.CaseAction{note(now.Add(-time.Hour), "jonas")}},
		}
	}
	for _, tc := range []struct {
		name    string
		create  bool
		change  func(*cxv1alpha1.Case)
		want    []string // type/by/text of the entries after the old ones
		wantErr string
	}{
		{name: "nothing to do", change: func(*cxv1alpha1.Case) {}, want: nil},
		{name: "an action without at gets the server's time", change: func(c *cxv1alpha1.Case) {
			c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{By: "priya", Type: cxv1alpha1.ActionNote})
		}, want: []string{"Note/priya/@now"}},
		{name: "an action within the skew is kept", change: func(c *cxv1alpha1.Case) {
			c.Spec.Actions = append(c.Spec.Actions, note(now.Add(-time.Minute), "priya"))
		}, want: nil},
		{name: "an action dated ten days ago is refused", change: func(c *cxv1alpha1.Case) {
			c.Spec.Actions = append(c.Spec.Actions, note(now.Add(-240*time.Hour), "priya"))
		}, wantErr: "spec.actions[1].at: 2026-11-22T10:00:00Z is 240h0m0s from the server's time 2026-12-02T10:00:00Z"},
		{name: "an action in the future is refused", change: func(c *cxv1alpha1.Case) {
			c.Spec.Actions = append(c.Spec.Actions, note(now.Add(time.Hour), "priya"))
		}, wantErr: "spec.actions[1].at"},
		{name: "a state change is logged", change: func(c *cxv1alpha1.Case) { c.Spec.State = cxv1alpha1.CaseInProgress },
			want: []string{"StateChanged/priya/state: Open → InProgress"}},
		{name: "reassign and severity are logged after the person's note", change: func(c *cxv1alpha1.Case) {
			c.Spec.Assignee, c.Spec.Severity = "maria", cxv1alpha1.SeverityUrgent
			c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{By: "priya", Type: cxv1alpha1.ActionNote})
		}, want: []string{"Note/priya/@now", "Reassigned/priya/assignee: jonas → maria", "Escalated/priya/severity: Normal → Urgent"}},
		{name: "a change the client logged itself is not logged twice", change: func(c *cxv1alpha1.Case) {
			c.Spec.State = cxv1alpha1.CaseInProgress
			c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{At: metav1.NewTime(now), By: "priya", Type: cxv1alpha1.ActionStateChanged, Text: "Open → In progress"})
		}, want: nil},
		{name: "defaults set at opening are not changes", change: func(c *cxv1alpha1.Case) {}, create: true, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			c := old.DeepCopy()
			if tc.create {
				old = &cxv1alpha1.Case{}
				c.Spec.Actions = nil
			}
			tc.change(c)
			got, err := w.audit(old, c, "priya")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if got != nil {
					t.Fatalf("log rewritten to %+v, want as sent", got)
				}
				return
			}
			var entries []string
			for _, a := range got[len(old.Spec.Actions):] {
				text := a.Text
				if a.At.Time.Equal(now) && a.Type == cxv1alpha1.ActionNote {
					text = "@now"
				} else if !a.At.Time.Equal(now) {
					t.Errorf("entry %+v not at the server's time", a)
				}
				entries = append(entries, string(a.Type)+"/"+a.By+"/"+text)
			}
			if strings.Join(entries, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("new entries:\n%s\nwant:\n%s", strings.Join(entries, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
