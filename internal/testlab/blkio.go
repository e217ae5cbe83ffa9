package testlab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// On cgroup v1 with recent kernels (seen on 6.18), the blkio.throttle.*
// counters that Docker reports as BlockIO stay at zero for every cgroup until
// blk-throttle has been set up on the disk, which the kernel only does the
// first time someone configures a throttle rule for it (as
// `docker run --device-write-bps` does). Once set up it stays for the life of
// the disk, counting for all cgroups. So before the first daemon starts we
// set a huge rule on the disk holding /tmp in a scratch cgroup and remove it
// again, so that block I/O tests see real numbers. Best effort: on cgroup v2,
// or with no blkio controller, or on a filesystem without a block device,
// nothing happens.

var blkioOnce sync.Once

func enableBlkioAccounting(dir string) {
	const root = "/sys/fs/cgroup/blkio"
	if _, err := os.Stat(filepath.Join(root, "blkio.throttle.write_bps_device")); err != nil {
		return
	}
	dev, ok := wholeDisk(dir)
	if !ok {
		return
	}
	cg := filepath.Join(root, fmt.Sprintf("dmlab-blkio-init-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		return
	}
	defer os.Remove(cg)
	rule := filepath.Join(cg, "blkio.throttle.write_bps_device")
	if err := os.WriteFile(rule, []byte(dev+" 1099511627776"), 0); err == nil {
		os.WriteFile(rule, []byte(dev+" 0"), 0) // 0 removes the rule
	}
}

// wholeDisk returns "major:minor" of the disk (not partition) holding path;
// throttle rules are only accepted for whole disks.
func wholeDisk(path string) (string, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "", false
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	sys, err := filepath.EvalSymlinks(fmt.Sprintf("/sys/dev/block/%d:%d", major, minor))
	if err != nil {
		return "", false // no block device: tmpfs, overlay, ...
	}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		sys = filepath.Dir(sys)
	}
	b, err := os.ReadFile(filepath.Join(sys, "dev"))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}
