package cgroupstats

import (
	"sync"
	"time"
)

// groupCache keeps each container's cgroup paths, resolved from
// /proc/<pid>/cgroup, for as long as its process lives: a process does not
// change cgroups inside a container, and when it is gone its container's
// cgroup is removed, which the next read finds (ErrGone), so a PID the
// kernel reuses never reads another process's cgroup. It saves a file
// read per container per scrape, about a tenth of a read's cost.
type groupCache struct {
	mu sync.Mutex
	m  map[string]cachedGroups // by container ID
}

type cachedGroups struct {
	pid    int
	groups map[string]string
}

// maxCachedGroups bounds the cache: past it, it starts over rather than
// track which containers are gone.
const maxCachedGroups = 4096

func (c *groupCache) get(id string, pid int, resolve func(string, int) (map[string]string, error)) (map[string]string, error) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && e.pid == pid {
		return e.groups, nil
	}
	groups, err := resolve(id, pid)
	if err != nil {
		c.forget(id)
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedGroups {
		c.m = map[string]cachedGroups{}
	}
	c.m[id] = cachedGroups{pid: pid, groups: groups}
	return groups, nil
}

func (c *groupCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// systemCache shares one read of /proc/stat between the reads of a round:
// the kernel writes the whole file (every CPU, every interrupt's count)
// for each open, and the host's CPU time only divides container CPU time
// over intervals of seconds, for the CPU percent.
type systemCache struct {
	mu    sync.Mutex
	at    time.Time
	usage uint64
	cpus  uint32
}

// systemMaxAge is how long a read of /proc/stat serves: 1% of the
// shortest interval a percent is computed over (a 10 s scrape interval).
const systemMaxAge = 100 * time.Millisecond

func (c *systemCache) get(path string) (uint64, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < systemMaxAge {
		return c.usage, c.cpus, nil
	}
	usage, cpus, err := readProcStat(path)
	if err != nil {
		return 0, 0, err
	}
	c.at, c.usage, c.cpus = time.Now(), usage, cpus
	return usage, cpus, nil
}
