package receiver

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// Receiver counts the frames of the interfaces the configuration selects and
// reports them as OpenTelemetry metrics. It is an attacher, which owns the
// kernel maps and what is attached to each interface, and the collectors,
// one per source of metrics, which only read. Its methods are safe for
// concurrent use.
type Receiver struct {
	att *attacher
	// collectors observe in each collection, in this order; a health
	// collector per RegisterMetrics comes first.
	collectors []registered
	traffic    *trafficCollector
	drops      *dropsCollector // nil with drops.enabled false
	// runners have work of their own beside collections: they start with
	// Start and stop with Close, in this order and in reverse.
	runners []runner

	mu      sync.Mutex
	started bool
	closed  bool
	stop    context.CancelFunc
	running sync.WaitGroup // the runners' goroutines
}

// runner is a part of the receiver with goroutines of its own.
type runner interface {
	// start begins the runner's work, which lasts until ctx ends; it does
	// not block.
	start(ctx context.Context, running *sync.WaitGroup)
	// close releases what the runner holds, once its goroutines are done.
	close() error
}

// Option tunes a Receiver.
type Option func(*options)

type options struct {
	netns         netns.NsHandle
	netlinkBuffer int
}

// WithNetns makes the receiver watch and attach to the interfaces of network
// namespace ns instead of its own (tests run receivers in test namespaces).
func WithNetns(ns netns.NsHandle) Option { return func(o *options) { o.netns = ns } }

// WithNetlinkBuffer sets the receive buffer of the netlink subscription in
// bytes (tests make it small to provoke lost messages).
func WithNetlinkBuffer(bytes int) Option { return func(o *options) { o.netlinkBuffer = bytes } }

// SeriesLimit is the most series one instrument of a receiver configured
// by cfg has: every traffic class of every interface in both directions,
// every tunnel type and class inside of the interfaces that can have tunnel
// counters, or the flow table's series (plus its overflow series).
func SeriesLimit(cfg config.Config) int {
	tunnels := 0
	if cfg.Tunnels.Enabled {
		tunnels = min(cfg.Limits.MaxInterfaces, cfg.Tunnels.MaxInterfaces) * 2 * bpf.TunnelCount * bpf.ClassCount
	}
	return max(cfg.Limits.MaxInterfaces*2*bpf.ClassCount, tunnels, cfg.Flows.MaxSeries+1)
}

// New creates the kernel maps, sized for cfg.Limits.MaxInterfaces
// interfaces, and the collectors the configuration turns on. Nothing is
// attached until Start.
func New(cfg config.Config, log *zap.Logger, opts ...Option) (*Receiver, error) {
	o := options{netns: netns.None(), netlinkBuffer: 4 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	eventOpts := bpf.EventOptions{Enabled: cfg.Events.Enabled, SampleRate: uint32(cfg.Events.SampleRate)}
	if eventOpts.Enabled {
		eventOpts.RingSize = cfg.Events.RingSize // the smallest otherwise
	}
	pin, maps, err := newMaps(cfg, o, eventOpts, log)
	if err != nil {
		return nil, err
	}
	reader, err := bpf.NewReader(maps)
	if err != nil {
		maps.Close()
		return nil, err
	}
	// Route only: the default set also opens XFRM and netfilter sockets,
	// which fail where their modules are not loaded.
	nl, err := netlink.NewHandleAt(o.netns, unix.NETLINK_ROUTE)
	if err != nil {
		maps.Close()
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	att := newAttacher(cfg, o, log, maps, reader, nl, probeFeatures(log), pin)
	r := &Receiver{att: att, traffic: newTrafficCollector(att, maps)}
	devices := &deviceCollector{att: att, nl: nl}
	if cfg.MetricEnabled(metricdef.AuditDifference.Name) {
		r.traffic.audit = newAudit()
		devices.audit = r.traffic.audit
	}
	attribution := &attributionCollector{att: att}
	// The devices right after the traffic: the audit compares the two reads.
	r.collectors = []registered{{"attribution", attribution}, {"traffic", r.traffic}, {"devices", devices}}
	r.runners = []runner{att}
	if cfg.Drops.Enabled {
		// First: it starts beside the interfaces and is never waited for.
		r.drops = newDropsCollector(att)
		r.collectors = append(r.collectors, registered{"drops", r.drops})
		r.runners = append([]runner{r.drops}, r.runners...)
	}
	if cfg.Events.Enabled {
		events, err := newEventsCollector(att)
		if err != nil {
			att.close()
			return nil, err
		}
		r.collectors = append(r.collectors, registered{"events", events})
		r.runners = append(r.runners, events)
	}
	if cfg.Attribution.Enabled {
		r.runners = append(r.runners, attribution)
	}
	return r, nil
}

// probeFeatures probes the kernel's features once and logs them.
func probeFeatures(log *zap.Logger) bpf.Features {
	features := bpf.ProbeFeatures()
	fields := make([]zap.Field, 0, len(features))
	for _, f := range features {
		fields = append(fields, zap.Bool(f.Name, f.Available()))
	}
	log.Info("kernel features", fields...)
	for _, f := range features {
		if !f.Available() {
			log.Info("kernel feature unavailable", zap.String("feature", f.Name), zap.Error(f.Err))
		}
	}
	return features
}

// Start attaches to every existing interface that the configuration selects
// and keeps watching: interfaces that appear later are attached, deleted ones
// forgotten. It returns once the existing interfaces are handled; failures on
// single interfaces are logged and counted, not returned. The error is for a
// watch that cannot start at all.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		return errors.New("receiver already started or closed")
	}
	r.started = true
	ctx, r.stop = context.WithCancel(ctx)
	for _, run := range r.runners {
		run.start(ctx, &r.running)
	}
	r.mu.Unlock()
	return <-r.att.started // the first listing's outcome
}

// Ready reports whether the initial interfaces are handled and every matching
// interface is counted, except those that cannot be (not Ethernet).
func (r *Receiver) Ready() bool {
	a := r.att
	a.mu.RLock()
	defer a.mu.RUnlock()
	if !a.ready {
		return false
	}
	for _, s := range a.skipped {
		if s.reason != reasonUnsupportedLink {
			return false
		}
	}
	return true
}

// Attached returns the names of the interfaces being counted.
func (r *Receiver) Attached() []string {
	r.att.mu.RLock()
	defer r.att.mu.RUnlock()
	names := make([]string, 0, len(r.att.attached))
	for _, at := range r.att.attached {
		names = append(names, at.name)
	}
	return names
}

// Close stops watching, detaches every program and releases the kernel maps.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.att.mu.Lock()
	r.att.closed = true // the watch stops applying link changes
	r.att.mu.Unlock()
	if r.stop != nil {
		r.stop()
		r.running.Wait()
	}
	var errs []error
	for i := len(r.runners) - 1; i >= 0; i-- {
		errs = append(errs, r.runners[i].close())
	}
	return errors.Join(errs...)
}
