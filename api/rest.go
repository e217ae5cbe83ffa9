package api

import (
	"net/http"

	"github.com/snadboy/docker-monitor/hostpool"
)

// Stubs: the REST endpoints are being written.

func (a *API) listHosts(w http.ResponseWriter, r *http.Request)      { writeError(w, 501, "todo") }
func (a *API) getHost(w http.ResponseWriter, r *http.Request)        { writeError(w, 501, "todo") }
func (a *API) listContainers(w http.ResponseWriter, r *http.Request) { writeError(w, 501, "todo") }
func (a *API) getContainer(w http.ResponseWriter, r *http.Request)   { writeError(w, 501, "todo") }
func (a *API) getStats(w http.ResponseWriter, r *http.Request)       { writeError(w, 501, "todo") }
func (a *API) listRoutes(w http.ResponseWriter, r *http.Request)     { writeError(w, 501, "todo") }
func (a *API) listConflicts(w http.ResponseWriter, r *http.Request)  { writeError(w, 501, "todo") }

// container is c of host h as the API shows it (routes, redaction).
func (a *API) container(h *hostpool.Host, c *hostpool.Container) Container { return Container{} }

// redactLabels returns labels with the values of secret-looking keys
// replaced by "<redacted>".
func redactLabels(labels map[string]string) map[string]string { return labels }
