package dockerstats

import "testing"

func TestWorkingSet(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	for _, tc := range []struct {
		name         string
		usage        uint64
		total, plain *uint64 // total_inactive_file (v1), inactive_file
		want         uint64
	}{
		{"v1", 1000, u(300), u(100), 700},
		{"v1 inactive above usage falls back to v2 key", 1000, u(3000), u(100), 900},
		{"v2", 1000, nil, u(250), 750},
		{"v2 inactive above usage", 100, nil, u(250), 100},
		{"no stats", 100, nil, nil, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := MemoryStats{Usage: tc.usage}
			m.Stats.TotalInactiveFile, m.Stats.InactiveFile = tc.total, tc.plain
			if got := m.WorkingSet(); got != tc.want {
				t.Errorf("WorkingSet = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestBlockIO(t *testing.T) {
	var s Stats
	s.BlkioStats.IoServiceBytesRecursive = []BlkioEntry{
		{Major: 8, Op: "Read", Value: 10}, {Major: 8, Op: "Write", Value: 20}, {Major: 8, Op: "Total", Value: 30},
		{Major: 254, Op: "read", Value: 1}, {Major: 254, Op: "write", Value: 2}, {Major: 254, Op: "discard", Value: 5},
	}
	if r, w := s.BlockIO(); r != 11 || w != 22 {
		t.Errorf("BlockIO = %d, %d; want 11, 22", r, w)
	}
}

func TestCPUPercent(t *testing.T) {
	sample := func(total, system uint64, online uint32) *Stats {
		var s Stats
		s.CPUStats.CPUUsage.TotalUsage, s.CPUStats.SystemUsage, s.CPUStats.OnlineCPUs = total, system, online
		return &s
	}
	for _, tc := range []struct {
		name      string
		prev, cur *Stats
		hostCPUs  int
		want      float64
		ok        bool
	}{
		// 0.5 s of CPU while the host's 4 CPUs ran 4 s: half a CPU, 50 %.
		{"docker CLI formula", sample(1e9, 100e9, 4), sample(1.5e9, 104e9, 4), 8, 50, true},
		{"online CPUs missing: the host's", sample(1e9, 100e9, 0), sample(1.5e9, 104e9, 0), 4, 50, true},
		{"no previous sample", nil, sample(1, 2, 1), 1, 0, false},
		{"no host time elapsed", sample(1e9, 100e9, 4), sample(1e9, 100e9, 4), 4, 0, false},
		{"counter went back (restart)", sample(5e9, 100e9, 4), sample(1e9, 104e9, 4), 4, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := CPUPercent(tc.prev, tc.cur, tc.hostCPUs)
			if ok != tc.ok || got != tc.want {
				t.Errorf("CPUPercent = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
