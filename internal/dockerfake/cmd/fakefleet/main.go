// Command fakefleet serves a simulated fleet of Docker 20.10 daemons
// (internal/dockerfake) in its own process, for scale benchmarks: one unix
// socket per host, each with its containers cloned from the recorded
// answers, its own stats ticker and event stream. It writes a hosts file
// for docker-monitor's --config.file, prints one line per host ("<alias>
// unix://<socket>"), then "hosts-file <path>" and "ready", and serves until
// SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/snadboy/docker-monitor/internal/dockerfake"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "fakefleet: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("fakefleet", flag.ContinueOnError)
	hosts := fs.Int("hosts", 10, "fake daemons")
	containers := fs.Int("containers", 1000, "running containers per daemon")
	dir := fs.String("dir", "", "directory for the sockets and the hosts file (default: a new one under $TMPDIR, removed at exit)")
	hostsFile := fs.String("hosts-file", "", "where to write the hosts file (default: <dir>/hosts.yml)")
	latency := fs.Duration("latency", time.Millisecond, "each daemon's time to answer a call")
	tick := fs.Duration("tick", time.Second, "period of each daemon's stats collector: stats answers wait for its next tick (0: answer at once)")
	health := fs.Duration("healthcheck-interval", 30*time.Second, "how often each container with a healthcheck runs it (three events each time; 0: quiet streams)")
	templates := fs.String("templates", strings.Join(dockerfake.RunningTemplates, ","), "recorded containers to clone, round-robin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for name, d := range map[string]time.Duration{"-latency": *latency, "-tick": *tick, "-healthcheck-interval": *health} {
		if d < 0 {
			return fmt.Errorf("%s: %s is negative", name, d)
		}
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "fakefleet-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if *hostsFile == "" {
		*hostsFile = filepath.Join(*dir, "hosts.yml")
	}
	f, err := dockerfake.StartFleet(*dir, dockerfake.FleetOptions{
		Hosts: *hosts, Containers: *containers, Templates: strings.Split(*templates, ","),
		Timing: dockerfake.Options{Latency: *latency, StatsTick: *tick}, HealthcheckInterval: *health,
	})
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.WriteFile(*hostsFile, f.HostsFile(), 0o644); err != nil {
		return fmt.Errorf("hosts file: %w", err)
	}
	for i, s := range f.Servers {
		fmt.Printf("%s %s\n", f.Aliases[i], s.Host)
	}
	fmt.Printf("hosts-file %s\nready\n", *hostsFile)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}
