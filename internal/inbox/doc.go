// Package inbox is the frontline's web application: the Cases a person
// works (mine, my teams', all I may see), overdue first; a manager's
// overview; the Case page with the response, the customer, the deadlines,
// the timeline and the actions this person may take; live updates over
// server-sent events.
//
// People sign in through a trusted authenticating proxy (oauth2-proxy or
// any proxy that sets X-Forwarded-User and X-Forwarded-Groups); the inbox
// accepts those headers only from the proxy's configured addresses. Every
// read and write of a person goes to the API server impersonating that
// person, so RBAC and the admission policies (config/rbac, config/admission)
// are the one place access is decided: the inbox checks nothing itself.
// Lists are served from an informer cache, after an impersonated
// SelfSubjectAccessReview (may this person list Cases in this namespace?)
// cached for a short time; which buttons a Case page shows is found by
// asking the API server the same question with dry-run requests.
package inbox
