package v1alpha1

// Labels cxloop sets on the Cases collectors open, so that people, the
// AlertRule controller and kubectl can select them
// (`kubectl get cases -l cx.cxloop.io/rule=install-failed`).
const (
	// LabelRule is the AlertRule that opened the Case.
	LabelRule = "cx.cxloop.io/rule"
	// LabelTemplate is the CaseTemplate the Case follows.
	LabelTemplate = "cx.cxloop.io/template"
	// LabelTouchpoint is the touchpoint of the triggering response.
	LabelTouchpoint = "cx.cxloop.io/touchpoint"
	// LabelDedupKey is a hash of the rule's dedup key for the response
	// (the key itself may hold customer data and label-illegal characters).
	LabelDedupKey = "cx.cxloop.io/dedup-key"
)
