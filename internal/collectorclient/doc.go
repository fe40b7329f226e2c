// Package collectorclient talks to a touchpoint collector's private API
// (status, aggregates, the Case archive, invitations, erasure) on behalf of
// the manager, reports and business systems. It holds the wire types the
// collector and its callers share, and links nothing of the collector
// server itself.
//
// Every call needs a Target: the URL of the collector's private surface
// and a bearer credential, either the touchpoint's own API token (the
// Secret <touchpoint>-collector-api the SurveyTouchpoint controller
// creates) or the program-wide token (the Secret cxloop-program-api).
package collectorclient
