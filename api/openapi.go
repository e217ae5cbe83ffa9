package api

import "net/http"

// Stub: the OpenAPI document is being written.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) { writeError(w, 501, "todo") }
