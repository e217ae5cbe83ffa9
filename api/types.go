package api

import "time"

// The JSON the API answers with. Field names are snake_case; times are RFC
// 3339 in UTC; durations are float seconds; a time that never happened is
// null. docs/api.md and openapi.json describe the same shapes.

// Host is GET /hosts/{host}.
type Host struct {
	Name        string            `json:"name"`
	Status      string            `json:"status"`           // "up", "down" or "connecting" (first sync not ended)
	Reason      string            `json:"reason,omitempty"` // down: timeout, refused, unreachable, permission, reset, auth, host_key, tls, stalled, api, other
	Connection  string            `json:"connection"`       // local, ssh, tcp
	Endpoint    string            `json:"endpoint"`         // unix:///var/run/docker.sock, ssh://user@host:22, tcp://host:2376: never a credential
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"` // from the hosts file

	EngineVersion string `json:"engine_version,omitempty"`
	APIVersion    string `json:"api_version,omitempty"`
	OS            string `json:"os,omitempty"`
	KernelVersion string `json:"kernel_version,omitempty"`
	Architecture  string `json:"architecture,omitempty"`
	CPUs          int    `json:"cpus"`
	MemoryBytes   int64  `json:"memory_bytes"`
	Images        int    `json:"images"`

	Containers      map[string]int `json:"containers"` // by state, every state present (0 when none); null while the cache is not current (down, connecting)
	ContainersTotal int            `json:"containers_total"`

	PingSeconds   *float64   `json:"ping_seconds"` // last ping that answered (scrapes and the event goroutine ping)
	PingAt        *time.Time `json:"ping_at"`
	EventStreamUp bool       `json:"event_stream_up"`
	Synced        bool       `json:"synced"` // a full list has completed since the host joined
	LastEvent     *time.Time `json:"last_event"`
	LastSync      *time.Time `json:"last_sync"`
	LastError     *Error     `json:"last_error"`
}

// Error is a failure: an API error answer, or a host's last error.
type Error struct {
	Error  string     `json:"error"`
	Status int        `json:"status,omitempty"` // HTTP status of an error answer
	Reason string     `json:"reason,omitempty"` // a host's error: as Host.Reason
	At     *time.Time `json:"at,omitempty"`
}

// Container is the design spec's ContainerInfo.
type Container struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Host           string            `json:"host"`
	Image          string            `json:"image"`
	ImageID        string            `json:"image_id"`
	Status         string            `json:"status"` // as docker ps: "Up 3 minutes (healthy)"
	State          State             `json:"state"`
	Health         *Health           `json:"health"` // null without a healthcheck, or when not running
	RestartCount   int               `json:"restart_count"`
	Created        *time.Time        `json:"created"`
	Labels         map[string]string `json:"labels"` // secret-looking keys' values "<redacted>"
	Ports          []Port            `json:"ports"`
	Networks       []Network         `json:"networks"`
	Mounts         []Mount           `json:"mounts"`
	Env            []EnvVar          `json:"env"` // values "<redacted>" unless --api.expose-env
	ComposeProject string            `json:"compose_project,omitempty"`
	ComposeService string            `json:"compose_service,omitempty"`
	Routes         []Route           `json:"routes"`
	// Problems are the container's RevP label problems (parsing and
	// resolving), also in each route's own problems where one is to blame.
	Problems []Problem `json:"problems"`
}

// State is the container's state as docker inspect reports it.
type State struct {
	Status     string     `json:"status"` // created, running, paused, restarting, removing, exited, dead
	Running    bool       `json:"running"`
	Paused     bool       `json:"paused"`
	Restarting bool       `json:"restarting"`
	OOMKilled  bool       `json:"oom_killed"`
	Dead       bool       `json:"dead"`
	Pid        int        `json:"pid"`
	ExitCode   int        `json:"exit_code"`
	Error      string     `json:"error"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// Health is a running container's healthcheck state.
type Health struct {
	Status        string        `json:"status"` // starting, healthy, unhealthy
	FailingStreak int           `json:"failing_streak"`
	Log           []HealthCheck `json:"log"` // the last checks Docker keeps, oldest first
}

// HealthCheck is one run of the healthcheck.
type HealthCheck struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exit_code"`
	Output   string    `json:"output"`
}

// Port is an exposed or published container port; one entry per host
// binding, one without host_port for a port only exposed.
type Port struct {
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
	HostPort      string `json:"host_port,omitempty"` // "" while Docker has not picked it (stopped, random port)
	Published     bool   `json:"published"`
}

// Network is an attached network and the container's addresses on it.
type Network struct {
	Name        string `json:"name"`
	IPAddress   string `json:"ip_address,omitempty"`
	IPv6Address string `json:"ipv6_address,omitempty"`
	Gateway     string `json:"gateway,omitempty"`
	MacAddress  string `json:"mac_address,omitempty"`
}

// Mount is a volume, bind or tmpfs mount.
type Mount struct {
	Type        string `json:"type"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"read_only"`
}

// EnvVar is one configured environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Route is a RevP route of a container.
type Route struct {
	Host             string    `json:"host"`
	Container        string    `json:"container"`
	ContainerID      string    `json:"container_id"`
	Domains          []Domain  `json:"domains"`
	Port             int       `json:"port"` // container port the labels name
	Grammar          string    `json:"grammar"`
	BackendScheme    string    `json:"backend_scheme"`
	BackendPath      string    `json:"backend_path"`
	BackendAddress   string    `json:"backend_address"`
	HostPort         string    `json:"host_port"` // "" when nothing is published for it
	Backend          string    `json:"backend"`   // scheme://address:host_port/path, "" without a host port
	HTTPS            bool      `json:"https"`
	Websocket        bool      `json:"websocket"`
	CloudflareTunnel bool      `json:"cloudflare_tunnel"`
	HealthPath       string    `json:"health_path,omitempty"`
	Up               bool      `json:"up"` // the container runs and Docker publishes the port over TCP
	Running          bool      `json:"running"`
	Problems         []Problem `json:"problems"`
}

// Domain is one domain a route serves.
type Domain struct {
	Name     string `json:"name"`
	Redirect bool   `json:"redirect"`
}

// Problem is one RevP label problem.
type Problem struct {
	Reason string `json:"reason"`
	Key    string `json:"key,omitempty"`
	Detail string `json:"detail"`
}

// Conflict is a domain more than one running route claims.
type Conflict struct {
	Domain    string     `json:"domain"`
	Claimants []Claimant `json:"claimants"`
}

// Claimant is one running route that claims a domain.
type Claimant struct {
	Host      string `json:"host"`
	Container string `json:"container"`
	Port      int    `json:"port"`
}

// ContainerStats is the design spec's ContainerStats.
type ContainerStats struct {
	Host             string    `json:"host"`
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Read             time.Time `json:"read"`                     // when the daemon took the sample
	CPUPercent       *float64  `json:"cpu_percent"`              // docker stats' figure (100 = one CPU); null when no earlier sample spans host CPU time
	CPUWindowSeconds *float64  `json:"cpu_window_seconds"`       // time between the two samples CPUPercent compares
	CPUSeconds       float64   `json:"cpu_seconds"`              // cumulative CPU time, user and system
	OnlineCPUs       int       `json:"online_cpus"`              //
	MemoryUsage      uint64    `json:"memory_usage_bytes"`       // page cache included
	MemoryWorkingSet uint64    `json:"memory_working_set_bytes"` // docker stats' MEM USAGE
	MemoryLimit      *uint64   `json:"memory_limit_bytes"`       // null when unlimited
	MemoryPercent    *float64  `json:"memory_percent"`           // working set over limit; null when unlimited
	NetworkRx        uint64    `json:"network_rx_bytes"`
	NetworkTx        uint64    `json:"network_tx_bytes"`
	BlockRead        uint64    `json:"block_read_bytes"`
	BlockWrite       uint64    `json:"block_write_bytes"`
	PIDs             uint64    `json:"pids"`
}

// Message is one item of the event stream: type docker_event (data
// DockerEvent), container_update (ContainerUpdate), host_status
// (HostStatus), or lagged (no data).
type Message struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq,omitempty"` // the feed's sequence number; SSE's id
	Data any    `json:"data,omitempty"`
}

// DockerEvent is an event from a host's Docker event stream.
type DockerEvent struct {
	Host       string            `json:"host"`
	Type       string            `json:"type"`   // container, image, network, volume, daemon
	Action     string            `json:"action"` // as Docker sent it: "health_status: healthy"
	ID         string            `json:"id"`
	Name       string            `json:"name,omitempty"`
	Time       time.Time         `json:"time"`
	Attributes map[string]string `json:"attributes"`        // secret-looking keys redacted, as labels
	Dropped    bool              `json:"dropped,omitempty"` // not applied (overflowed --events.buffer, applying it failed, or the connection ended first); a resync follows
}

// ContainerUpdate is a cached container whose state or health changed.
type ContainerUpdate struct {
	Host      string     `json:"host"`
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	OldState  string     `json:"old_state"` // "" for a new container
	NewState  string     `json:"new_state"` // "" for a removed one
	OldHealth string     `json:"old_health"`
	Health    string     `json:"health"`
	Time      time.Time  `json:"time"`
	Container *Container `json:"container"` // as now cached; null when removed
}

// HostStatus is a host whose event stream went down or came back.
type HostStatus struct {
	Host   string    `json:"host"`
	Status string    `json:"status"` // up, down, or removed (the host left the pool)
	Reason string    `json:"reason,omitempty"`
	Error  string    `json:"error,omitempty"`
	Time   time.Time `json:"time"`
}

// HostList is GET /hosts.
type HostList struct {
	Hosts []Host `json:"hosts"`
}

// ContainerList is GET /containers: Total matched the filters, of which
// Containers are those from Offset on, at most Limit (0: no limit).
type ContainerList struct {
	Total      int         `json:"total"`
	Offset     int         `json:"offset"`
	Limit      int         `json:"limit"`
	Containers []Container `json:"containers"`
}

// RouteList is GET /routes.
type RouteList struct {
	Routes []Route `json:"routes"`
}

// ConflictList is GET /routes/conflicts.
type ConflictList struct {
	Conflicts []Conflict `json:"conflicts"`
}
