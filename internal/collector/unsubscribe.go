package collector

import (
	"crypto/hmac"
	"encoding/base64"
	"net/http"
	"strings"
)

// Unsubscribe (public surface), RFC 8058 one-click:
//
//	GET  /u/{token}   a page with one button
//	POST /u/{token}   unsubscribes (the mail client's one-click POST with
//	                  List-Unsubscribe=One-Click, or the page's button)
//
// The token is the customer id and an HMAC of it; it does not expire. An
// unsubscribed customer gets no invitation or reminder of the program
// (namespace) again.

func (s *Server) unsubscribeRoutes() {
	s.HandlePublic("GET /u/{token}", http.HandlerFunc(s.handleUnsubscribeGet))
	s.HandlePublic("POST /u/{token}", http.HandlerFunc(s.handleUnsubscribePost))
}

// unsubscribeToken is the unsubscribe link's token of a customer.
func (s *Server) unsubscribeToken(customerID string) string {
	id := base64.RawURLEncoding.EncodeToString([]byte(customerID))
	return id + "." + s.formKey("unsubscribe", customerID)
}

func (s *Server) readUnsubscribe(tok string) (string, bool) {
	id, mac, ok := strings.Cut(tok, ".")
	if !ok {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || !hmac.Equal([]byte(mac), []byte(s.formKey("unsubscribe", string(raw)))) {
		return "", false
	}
	return string(raw), true
}

func (s *Server) handleUnsubscribeGet(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	sv := pageFor(st, r, "")
	if _, ok := s.readUnsubscribe(r.PathValue("token")); !ok {
		s.writeMessage(w, http.StatusNotFound, message(sv, sv.UI.InvalidTitle, sv.UI.Invalid))
		return
	}
	m := message(sv, sv.UI.UnsubscribeBtn, sv.UI.UnsubscribeAsk)
	m.Action, m.Button = "/u/"+r.PathValue("token"), sv.UI.UnsubscribeBtn
	m.Hidden = map[string]string{"List-Unsubscribe": "One-Click"}
	s.writeMessage(w, http.StatusOK, m)
}

func (s *Server) handleUnsubscribePost(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	sv := pageFor(st, r, "")
	customer, ok := s.readUnsubscribe(r.PathValue("token"))
	if !ok {
		s.writeMessage(w, http.StatusNotFound, message(sv, sv.UI.InvalidTitle, sv.UI.Invalid))
		return
	}
	// The one-click POST comes from the mail provider, not from the page:
	// no Origin check; the token is the credential.
	_ = parseForm(w, r)
	if err := s.opts.Store.Unsubscribe(r.Context(), s.opts.Namespace, customer, s.opts.Now()); err != nil {
		s.pageUnavailable(w, r, st, err)
		return
	}
	s.writeMessage(w, http.StatusOK, message(sv, sv.UI.UnsubscribeBtn, sv.UI.Unsubscribed))
}
