package hostpool

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// connect negotiates the API version (again on every reconnect: the daemon
// may have been upgraded while away) and reads the daemon's description.
func (h *Host) connect(ctx context.Context) error {
	_, err := call(ctx, h, "ping", func(ctx context.Context) (client.PingResult, error) {
		return h.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true, ForceNegotiate: true})
	})
	if err != nil {
		return err
	}
	return h.refreshInfo(ctx)
}

func (h *Host) refreshInfo(ctx context.Context) error {
	v, err := call(ctx, h, "version", func(ctx context.Context) (client.ServerVersionResult, error) {
		return h.cli.ServerVersion(ctx, client.ServerVersionOptions{})
	})
	if err != nil {
		return err
	}
	in, err := call(ctx, h, "info", func(ctx context.Context) (client.SystemInfoResult, error) {
		return h.cli.Info(ctx, client.InfoOptions{})
	})
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.info = Info{
		Version:       v.Version,
		APIVersion:    v.APIVersion,
		OS:            in.Info.OperatingSystem,
		KernelVersion: in.Info.KernelVersion,
		Architecture:  in.Info.Architecture,
		CPUs:          in.Info.NCPU,
		MemoryBytes:   in.Info.MemTotal,
		Images:        in.Info.Images,
	}
	h.mu.Unlock()
	return nil
}

// refreshImages recounts images after an image event; Info would count them
// too but costs the daemon far more (it execs runc and containerd to report
// their versions).
func (h *Host) refreshImages(ctx context.Context) error {
	res, err := call(ctx, h, "list images", func(ctx context.Context) (client.ImageListResult, error) {
		return h.cli.ImageList(ctx, client.ImageListOptions{All: true})
	})
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.info.Images = len(res.Items)
	h.mu.Unlock()
	return nil
}

// resync re-lists every container and replaces the cache, so that whatever
// happened while the stream was down (or events were dropped) is corrected.
func (h *Host) resync(ctx context.Context) (err error) {
	ctx, span := h.startSpan(ctx, "resync")
	defer func() { EndSpan(span, err) }()
	start := time.Now()
	list, err := h.listContainers(ctx)
	if err != nil {
		return err
	}
	fresh := make(map[string]*Container, len(list.Items))
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		sem      = make(chan struct{}, max(1, h.opts.MaxConcurrent))
	)
	for _, item := range list.Items {
		wg.Add(1)
		sem <- struct{}{}
		go func(id string) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := h.inspect(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
			case c != nil:
				fresh[id] = c
			}
		}(item.ID)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := h.refreshInfo(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	added := 0
	old := h.containers
	for id := range fresh {
		if _, ok := old[id]; !ok {
			added++
		}
	}
	h.containers = fresh
	h.everSynced = true
	h.status.LastSync = time.Now()
	h.mu.Unlock()
	h.publishDiff(old, fresh)
	h.m.ContainersDiscovered.WithLabelValues(h.Alias).Add(float64(added))
	h.m.DiscoveryDuration.WithLabelValues(h.Alias).Observe(time.Since(start).Seconds())
	h.log.Debug("resynced", "containers", len(fresh), "new", added, "duration", time.Since(start))
	return nil
}

// publishDiff tells the feed what a resync changed: what the stream missed
// (it was down, or events were dropped) shows here, and subscribers learn
// it as if an event had said so.
func (h *Host) publishDiff(old, fresh map[string]*Container) {
	for id, c := range fresh {
		h.changed(old[id], c)
	}
	for id, c := range old {
		if _, ok := fresh[id]; !ok {
			h.changed(c, nil)
		}
	}
}

// inspect returns nil, nil for a container that is already gone.
func (h *Host) inspect(ctx context.Context, id string) (*Container, error) {
	res, err := call(ctx, h, fmt.Sprintf("inspect %.12s", id), func(ctx context.Context) (client.ContainerInspectResult, error) {
		return h.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return fromInspect(res.Container), nil
}

func (h *Host) listContainers(ctx context.Context) (client.ContainerListResult, error) {
	return call(ctx, h, "list containers", func(ctx context.Context) (client.ContainerListResult, error) {
		return h.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	})
}
