package hostpool

import (
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// The list answers for an inspect that waits on a container's lock: what
// it shows replaces the cached view, and the rest of the cached view stays.
func TestFromSummary(t *testing.T) {
	old := &Container{ID: "abc", Name: "old-name", State: "created", RestartCount: 2, CPULimit: 1.5, Env: []string{"A=1"}}
	s := container.Summary{
		ID: "abc", Names: []string{"/web"}, Image: "nginx", ImageID: "sha256:1", Created: 1700000000,
		State: "running", Status: "Up 1 second (health: starting)",
		Labels: map[string]string{"com.docker.compose.project": "p"},
		Ports:  []container.PortSummary{{PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, {PrivatePort: 443, Type: "tcp"}},
	}
	c := fromSummary(s, old)
	if c == old {
		t.Fatal("the cached container was changed in place")
	}
	want := *old
	want.Name, want.Image, want.ImageID, want.Labels, want.State, want.Health = "web", "nginx", "sha256:1", s.Labels, "running", "starting"
	want.Created, want.ComposeProject = c.Created, "p"
	want.Published = map[string][]string{"80/tcp": {"8080"}}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("fromSummary =\n%+v\nwant\n%+v", *c, want)
	}
	if c.Created.Unix() != 1700000000 {
		t.Errorf("created %v", c.Created)
	}
	if n := fromSummary(container.Summary{ID: "new", Names: []string{"/n"}, State: "created"}, nil); n.Name != "n" || n.State != "created" {
		t.Errorf("new container from the list: %+v", n)
	}
	paused := &Container{ID: "p", State: "paused", Paused: true, Pid: 42}
	if k := fromSummary(container.Summary{ID: "p", State: "exited", Status: "Exited (137) 1 second ago"}, paused); k.Paused || k.Pid != 0 || k.ExitCode != 137 {
		t.Errorf("a paused container killed, from the list: paused %v pid %d exit %d; want false, 0, 137", k.Paused, k.Pid, k.ExitCode)
	}
}
