package controllers

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

const waitTimeout = 20 * time.Second

// positionRE finds a compiler position (line:column) in a message.
var positionRE = regexp.MustCompile(`\b1:[0-9]+: `)

// waitReady polls obj until its Ready condition has the wanted status and
// reason for the current generation, and returns that condition.
func waitReady(t *testing.T, obj statusObject, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	return waitReadyMessage(t, obj, status, reason, "")
}

// waitReadyMessage is waitReady that also waits for the message to contain
// a fragment.
func waitReadyMessage(t *testing.T, obj statusObject, status metav1.ConditionStatus, reason, fragment string) metav1.Condition {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(waitTimeout)
	var last *metav1.Condition
	for time.Now().Before(deadline) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatalf("get %s: %v", obj.GetName(), err)
		}
		last = apimeta.FindStatusCondition(obj.GetConditions(), cxv1alpha1.ConditionReady)
		if last != nil && last.Status == status && last.Reason == reason && last.ObservedGeneration == obj.GetGeneration() &&
			strings.Contains(last.Message, fragment) {
			return *last
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: Ready never became %s/%s with %q; last: %+v", obj.GetName(), status, reason, fragment, last)
	return metav1.Condition{}
}

// update re-reads obj, applies mutate and writes it, retrying when the
// controller wrote the object in between.
func update[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return env.Client.Update(context.Background(), obj)
	})
	if err != nil {
		t.Fatalf("update %s: %v", obj.GetName(), err)
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func touchpoint(ns, name string, labels map[string]string) *cxv1alpha1.SurveyTouchpoint {
	return &cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel: cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{
				{ID: "ease", Text: "How easy was it to install?", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 10}},
				{ID: "completed", Text: "Were you able to complete the installation?", Type: cxv1alpha1.QuestionYesNo, Required: true},
			},
		},
	}
}

func rule(ns, name, condition string, tps ...string) *cxv1alpha1.AlertRule {
	return &cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1alpha1.AlertRuleSpec{
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: tps},
			Condition:   condition,
			Actions:     cxv1alpha1.AlertActions{Notify: []cxv1alpha1.NotifyAction{{Channel: "support"}}},
		},
	}
}

func webhookChannel(ns, name, secret string) *cxv1alpha1.NotificationChannel {
	return &cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1alpha1.NotificationChannelSpec{
			Type: cxv1alpha1.ChannelTypeWebhook,
			Webhook: &cxv1alpha1.WebhookChannel{
				URL:              "https://hooks.example.com/cx",
				SigningSecretRef: cxv1alpha1.SecretKeyReference{Name: secret, Key: "signing-key"},
			},
		},
	}
}

func template(ns, name string) *cxv1alpha1.CaseTemplate {
	return &cxv1alpha1.CaseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "installation",
			Team:     cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Name: "maria"}}},
			Closure:  cxv1alpha1.ClosureRequirements{RootCauses: []string{"documentation-gap", "installer-defect"}},
		},
	}
}

// An invalid rule is reported in its own status with the compiler's message
// and position, while a valid rule next to it is Ready.
func TestAlertRuleInvalidExpressionDoesNotAffectValidRules(t *testing.T) {
	ns := env.Namespace(t)
	create(t, touchpoint(ns, "upgrade-install", nil), webhookChannel(ns, "support", "support-webhook"))
	good := rule(ns, "installation-failed", "answers.completed == false", "upgrade-install")
	typo := rule(ns, "typo", "answers.complted == false", "upgrade-install")
	wrongType := rule(ns, "wrong-type", "answers.completed == 5", "upgrade-install")
	create(t, good, typo, wrongType)

	c := waitReady(t, good, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
	if !strings.Contains(c.Message, "1 touchpoint") {
		t.Errorf("ready message = %q, want the number of touchpoints compiled against", c.Message)
	}
	if want := []string{"upgrade-install"}; strings.Join(good.Status.SelectedTouchpoints, ",") != strings.Join(want, ",") {
		t.Errorf("selectedTouchpoints = %v, want %v", good.Status.SelectedTouchpoints, want)
	}

	for _, bad := range []*cxv1alpha1.AlertRule{typo, wrongType} {
		c := waitReady(t, bad, metav1.ConditionFalse, cxv1alpha1.ReasonInvalidExpression)
		if !strings.Contains(c.Message, "spec.condition") || !strings.Contains(c.Message, "upgrade-install") || !positionRE.MatchString(c.Message) {
			t.Errorf("%s: message %q should name spec.condition, the touchpoint and the position", bad.Name, c.Message)
		}
		stalled := apimeta.FindStatusCondition(bad.Status.Conditions, cxv1alpha1.ConditionStalled)
		if stalled == nil || stalled.Status != metav1.ConditionTrue {
			t.Errorf("%s: Stalled = %+v, want True (no retry fixes a bad expression)", bad.Name, stalled)
		}
	}

	// Fixing the expression makes the rule Ready and clears Stalled.
	update(t, typo, func(r *cxv1alpha1.AlertRule) { r.Spec.Condition = "answers.completed == false" })
	waitReady(t, typo, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
	if apimeta.FindStatusCondition(typo.Status.Conditions, cxv1alpha1.ConditionStalled) != nil {
		t.Errorf("Stalled still present after the fix")
	}
}

// A rule naming a missing template waits for it and becomes Ready when the
// template is created, without any change to the rule.
func TestAlertRuleReferenceResolvesWhenCreated(t *testing.T) {
	ns := env.Namespace(t)
	create(t, touchpoint(ns, "upgrade-install", nil), webhookChannel(ns, "support", "support-webhook"))
	r := rule(ns, "installation-failed", "answers.completed == false", "upgrade-install")
	r.Spec.Actions.OpenCase = &cxv1alpha1.OpenCaseAction{Template: "installation-support"}
	create(t, r)

	c := waitReady(t, r, metav1.ConditionFalse, cxv1alpha1.ReasonReferenceNotFound)
	if !strings.Contains(c.Message, "spec.actions.openCase.template") || !strings.Contains(c.Message, `"installation-support"`) {
		t.Errorf("message %q should name the field and the missing template", c.Message)
	}
	if apimeta.FindStatusCondition(r.Status.Conditions, cxv1alpha1.ConditionStalled) != nil {
		t.Errorf("a missing reference must not stall the rule")
	}
	create(t, template(ns, "installation-support"))
	waitReady(t, r, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
}

// Touchpoints are selected by label too; a selector that matches nothing is
// reported, and a touchpoint gaining the label is picked up.
func TestAlertRuleSelectsTouchpointsByLabel(t *testing.T) {
	ns := env.Namespace(t)
	create(t, webhookChannel(ns, "support", "support-webhook"))
	r := rule(ns, "any-install", "answers.ease <= 5")
	r.Spec.Touchpoints = cxv1alpha1.TouchpointSelection{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"journey": "install"}}}
	create(t, r)
	c := waitReady(t, r, metav1.ConditionFalse, cxv1alpha1.ReasonNoTouchpointSelected)
	if !strings.Contains(c.Message, "spec.touchpoints") {
		t.Errorf("message %q should name spec.touchpoints", c.Message)
	}

	create(t, touchpoint(ns, "upgrade-install", map[string]string{"journey": "install"}), touchpoint(ns, "other", nil))
	waitReady(t, r, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
	if got := strings.Join(r.Status.SelectedTouchpoints, ","); got != "upgrade-install" {
		t.Errorf("selectedTouchpoints = %q, want upgrade-install", got)
	}
}

func TestAlertRuleSuspended(t *testing.T) {
	ns := env.Namespace(t)
	create(t, touchpoint(ns, "upgrade-install", nil), webhookChannel(ns, "support", "support-webhook"))
	r := rule(ns, "paused", "answers.completed == false", "upgrade-install")
	r.Spec.Suspend = true
	create(t, r)
	waitReady(t, r, metav1.ConditionFalse, cxv1alpha1.ReasonSuspended)
}

func TestReportSubscriptionScheduleAndTimeZone(t *testing.T) {
	ns := env.Namespace(t)
	create(t, touchpoint(ns, "upgrade-install", nil), webhookChannel(ns, "support", "support-webhook"))
	report := func(name, schedule, tz string) *cxv1alpha1.ReportSubscription {
		return &cxv1alpha1.ReportSubscription{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: cxv1alpha1.ReportSubscriptionSpec{
				Schedule: schedule, TimeZone: tz,
				Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"upgrade-install"}},
				Channels:    []string{"support"},
			},
		}
	}
	good := report("weekly", "0 8 * * MON", "America/New_York")
	badCron := report("bad-cron", "0 8 * * FUNDAY", "UTC")
	badTZ := report("bad-tz", "@weekly", "Mars/Olympus_Mons")
	create(t, good, badCron, badTZ)

	waitReady(t, good, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
	if c := waitReady(t, badCron, metav1.ConditionFalse, cxv1alpha1.ReasonInvalidSchedule); !strings.Contains(c.Message, "spec.schedule") {
		t.Errorf("message %q should name spec.schedule", c.Message)
	}
	if c := waitReady(t, badTZ, metav1.ConditionFalse, cxv1alpha1.ReasonUnknownTimeZone); !strings.Contains(c.Message, "spec.timeZone") || !strings.Contains(c.Message, "Mars/Olympus_Mons") {
		t.Errorf("message %q should name spec.timeZone and the value", c.Message)
	}
}

// A closed Case whose root cause is not in its template's list is reported;
// the CRD cannot see the template, the controller can.
func TestCaseRootCauseMustBeInTemplate(t *testing.T) {
	ns := env.Namespace(t)
	create(t, template(ns, "installation-support"))
	c := &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-1"},
		Spec: cxv1alpha1.CaseSpec{
			Template: "installation-support",
			Customer: &cxv1alpha1.Customer{ID: "acme", Tier: "Gold"},
		},
	}
	create(t, c)
	waitReady(t, c, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)

	for _, s := range []cxv1alpha1.CaseState{cxv1alpha1.CaseInProgress, cxv1alpha1.CaseResolved} {
		update(t, c, func(c *cxv1alpha1.Case) { c.Spec.State = s })
	}
	update(t, c, func(c *cxv1alpha1.Case) {
		c.Spec.State = cxv1alpha1.CaseClosed
		c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "cosmic-rays", Summary: "reinstalled"}
	})
	cond := waitReady(t, c, metav1.ConditionFalse, cxv1alpha1.ReasonInvalidRootCause)
	if !strings.Contains(cond.Message, "spec.resolution.rootCause") || !strings.Contains(cond.Message, "documentation-gap") {
		t.Errorf("message %q should name the field and list the allowed root causes", cond.Message)
	}
}

// A channel whose Secret is missing says so, and becomes Ready as soon as
// the Secret is created.
func TestNotificationChannelWaitsForSecret(t *testing.T) {
	ns := env.Namespace(t)
	ch := webhookChannel(ns, "support", "support-webhook")
	create(t, ch)
	c := waitReady(t, ch, metav1.ConditionFalse, cxv1alpha1.ReasonSecretNotFound)
	if !strings.Contains(c.Message, "spec.webhook.signingSecretRef") || !strings.Contains(c.Message, `"support-webhook"`) {
		t.Errorf("message %q should name the field and the Secret", c.Message)
	}

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "support-webhook"},
		StringData: map[string]string{"wrong-key": "x"},
	}
	create(t, secret)
	waitReadyMessage(t, ch, metav1.ConditionFalse, cxv1alpha1.ReasonSecretNotFound, `has no key "signing-key"`)
	update(t, secret, func(s *corev1.Secret) {
		s.StringData = map[string]string{"signing-key": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	})
	waitReady(t, ch, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
}
