package inbox

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

var funcs = template.FuncMap{
	"due": func(now time.Time, r Row) string {
		if !r.open() {
			if r.State == cxv1alpha1.CaseClosed && !r.ClosedAt.IsZero() {
				return "closed " + ago(now, r.ClosedAt)
			}
			return stateLabel(r.State)
		}
		return dueInWords(now, r.DueAt)
	},
	"overdue":    func(now time.Time, r Row) bool { return r.overdue(now) },
	"ago":        ago,
	"stateLabel": stateLabel,
	"casePath":   func(r Row) string { return casePath(r.Namespace, r.Name) },
	"utc":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"severities": func() []cxv1alpha1.Severity {
		return []cxv1alpha1.Severity{cxv1alpha1.SeverityLow, cxv1alpha1.SeverityNormal, cxv1alpha1.SeverityHigh, cxv1alpha1.SeverityUrgent}
	},
	"states": func() []cxv1alpha1.CaseState {
		return []cxv1alpha1.CaseState{cxv1alpha1.CaseOpen, cxv1alpha1.CaseInProgress, cxv1alpha1.CasePendingCustomer,
			cxv1alpha1.CaseResolved, cxv1alpha1.CaseClosed, cxv1alpha1.CaseReopened}
	},
	// with returns the list URL with one filter changed.
	"listURL": func(q Query, key, value string) string {
		v := url.Values{}
		set := func(k, val string) {
			if val != "" {
				v.Set(k, val)
			}
		}
		set("view", string(q.View))
		set("namespace", q.Namespace)
		set("state", string(q.State))
		set("severity", string(q.Severity))
		set("template", q.Template)
		set("touchpoint", q.Touchpoint)
		set("customer", q.Customer)
		if q.OverdueOnly {
			v.Set("overdue", "1")
		}
		if value == "" {
			v.Del(key)
		} else {
			v.Set(key, value)
		}
		return "/cases?" + v.Encode()
	},
	"lower": strings.ToLower,
	"percent": func(part, whole int) string {
		if whole == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f %%", 100*float64(part)/float64(whole))
	},
}

func init() {
	funcs["dict"] = func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			m[k] = kv[i+1]
		}
		return m
	}
}
