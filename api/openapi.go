package api

import (
	_ "embed"
	"net/http"
)

// openAPIDoc describes every endpoint and type; openapi_test.go holds it
// to routes() and types.go so that it cannot drift from the code.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI serves the OpenAPI document. It takes no query parameter, as
// the other endpoints that take none.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(openAPIDoc)
}
