package hostpool

import (
	"reflect"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/snadboy/docker-monitor/internal/dockerfake"
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

// A daemon that holds its containers' locks (a start or stop in progress)
// keeps inspects waiting: the events are published anyway, each from the
// list after inspectPatience, and one container's wait holds up no other.
func TestAppliedFromTheListWhileInspectWaits(t *testing.T) {
	fake := startFake(t)
	opts := DefaultOptions
	opts.StreamCheckInterval = 0
	pool, _ := startPool(t, fake, opts)
	waitUntil(t, "first sync and the event stream", func() bool { return pool.Ready() && fake.EventStreams() > 0 })
	ids := map[string]string{}
	for _, c := range pool.Hosts()[0].Snapshot().Containers {
		ids[c.Name] = c.ID
	}
	sub := pool.Subscribe(100)
	defer sub.Close()
	release := fake.Hold("inspect")
	defer release()
	fake.Emit(
		dockerfake.Event("container", "start", ids["writer"], map[string]string{"name": "writer"}, time.Now()),
		dockerfake.Event("container", "start", ids["web"], map[string]string{"name": "web"}, time.Now()),
	)
	seen := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for len(seen) < 2 {
		select {
		case e := <-sub.C():
			if e.Kind != KindDockerEvent {
				continue
			}
			if e.Dropped || e.Container == nil || e.Container.ID != e.ActorID || e.Container.State != "running" {
				t.Fatalf("event %s of %s: dropped %v, container %+v", e.Action, e.Name, e.Dropped, e.Container)
			}
			seen[e.Name] = true
		case <-deadline:
			t.Fatalf("published while inspects wait: %v, want writer and web", seen)
		}
	}
}
