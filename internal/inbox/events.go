package inbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// serveEvents streams server-sent events: one "case" event, carrying the
// namespace and name only, whenever a Case in a namespace the person may
// list changes (or only that Case, with ?case=<ns>/<name>). Pages fetch
// themselves again on an event, as the person, so the stream carries no
// content the person's own reads would not.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, id Identity) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	var onlyNS, onlyName string
	if c := r.URL.Query().Get("case"); c != "" {
		var found bool
		if onlyNS, onlyName, found = strings.Cut(c, "/"); !found {
			http.Error(w, "case must be <namespace>/<name>", http.StatusBadRequest)
			return
		}
	}
	changes, cancel := s.board.subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 3000\n\n")
	fl.Flush()
	heartbeat := time.NewTicker(25 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-heartbeat.C:
			_, _ = fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		case ch := <-changes:
			if onlyNS != "" && (ch.Namespace != onlyNS || ch.Name != onlyName) {
				continue
			}
			ok, err := s.access.mayList(r.Context(), id, ch.Namespace)
			if err != nil || !ok {
				continue
			}
			data, _ := json.Marshal(map[string]string{"namespace": ch.Namespace, "name": ch.Name})
			if _, err := fmt.Fprintf(w, "event: case\ndata: %s\n\n", data); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
