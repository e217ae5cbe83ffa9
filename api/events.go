package api

import "net/http"

// Stub: the event stream is being written.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) { writeError(w, 501, "todo") }
