// Package live serves the exporter's live view: a JSON snapshot of the
// counters at /api/v1/live and the page at "/" that draws it (embedded
// files, no external assets).
//
// A snapshot is one collection of the MeterProvider, read through a reader
// of its own, so it holds exactly what /metrics and OTLP export, summed per
// interface. It carries cumulative totals with the collection's time; the
// page computes rates from two snapshots. Concurrent requests share one
// collection, so an open page costs at most one collection a second, like a
// scrape.
package live

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"golang.org/x/sync/singleflight"

	"github.com/packet-exporter/packet-exporter/internal/dropcategory"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// SchemaVersion is the version of the JSON snapshot, the v1 of its path.
// Fields may be added within a version; none is renamed or removed.
const SchemaVersion = 1

// Path is where the snapshot is served.
const Path = "/api/v1/live"

// Snapshot is one collection, summed per interface.
type Snapshot struct {
	// Version is SchemaVersion.
	Version int `json:"version"`
	// Time is when the collection was made, in Unix milliseconds: the time
	// base of rates.
	Time int64 `json:"time_unix_ms"`
	// Interfaces are the counted interfaces, by name.
	Interfaces []Interface `json:"interfaces"`
	// Drops are the kernel's drops by reason and category, with
	// drops.enabled.
	Drops []Drop `json:"drops"`
	// Agent is the exporter's own state.
	Agent Agent `json:"agent"`

	// interfaceDrops are the drops by interface, interfaceFailures the
	// failed attachments, for details.
	interfaceDrops    map[string][]Drop
	interfaceFailures map[string]int64
}

// Interface is one counted interface's totals since counting began.
type Interface struct {
	Name string `json:"name"`
	// Info are the attributes of its info series other than its name: kind,
	// master and the workload behind it (pod, container).
	Info map[string]string `json:"info"`
	// Receive and Transmit are the totals of each direction.
	Receive  Direction `json:"receive"`
	Transmit Direction `json:"transmit"`
}

// Direction is one direction's totals.
type Direction struct {
	Packets int64 `json:"packets"`
	Bytes   int64 `json:"bytes"`
	// Protocols splits the totals by network type and transport.
	Protocols []Protocol `json:"protocols"`
	// Sizes is the packet-size distribution.
	Sizes Sizes `json:"sizes"`
	// Tunnels splits the frames that carry a tunnel, a part of the totals,
	// by tunnel type and the network type and transport of the packet
	// inside (tunnels.enabled).
	Tunnels []TunnelProtocol `json:"tunnels"`
}

// TunnelProtocol is the totals of the frames of one tunnel type carrying
// packets of one network type and transport.
type TunnelProtocol struct {
	Tunnel string `json:"tunnel"`
	Protocol
}

// Protocol is the totals of one network type and transport.
type Protocol struct {
	NetworkType string `json:"network_type"`
	Transport   string `json:"transport"`
	Packets     int64  `json:"packets"`
	Bytes       int64  `json:"bytes"`
}

// Sizes is a packet-size histogram: Counts[i] frames of at most Bounds[i]
// bytes (and more than Bounds[i-1]), the last count above every bound.
type Sizes struct {
	Bounds []float64 `json:"bounds"`
	Counts []uint64  `json:"counts"`
}

// Drop is the kernel's drops of one reason and category.
type Drop struct {
	Reason string `json:"reason"`
	// Category is the drops' packet_exporter.drop.category.
	Category string `json:"category"`
	// Loss tells whether the category's drops are losses (network, host),
	// which the page shows by default.
	Loss    bool  `json:"loss"`
	Packets int64 `json:"packets"`
}

// dropKey is what drops are summed by.
type dropKey struct{ reason, category string }

// Agent is the exporter's health.
type Agent struct {
	// Attached are the programs attached.
	Attached []Hook `json:"attached"`
	// AttachFailures is the total of failed attachments.
	AttachFailures int64 `json:"attach_failures"`
	// EventsLost is the total of event records the ring buffer had no room
	// for (0 with the event stream off).
	EventsLost int64 `json:"events_lost"`
	// ParseErrors is the total of frames counted with a parse anomaly.
	ParseErrors int64 `json:"parse_errors"`
}

// Hook is one attached program.
type Hook struct {
	Interface string `json:"interface"`
	Direction string `json:"direction"`
	Hook      string `json:"hook"`
	Mode      string `json:"mode,omitempty"`
}

// Source makes snapshots from a reader of the MeterProvider, and summaries
// from a history.
type Source struct {
	reader  sdkmetric.Reader
	history *History // nil: no summaries, no details' history
	group   singleflight.Group
}

// NewSource reads snapshots from reader, which must be registered with the
// provider and collect cumulative totals, and summaries from history (nil:
// none).
func NewSource(reader sdkmetric.Reader, history *History) *Source {
	return &Source{reader: reader, history: history}
}

// Detail is one interface's snapshot, what is attached to it, its drops by
// reason and its history: what a page shows of the interface selected.
type Detail struct {
	// Version is SchemaVersion.
	Version int `json:"version"`
	// Time is when the collection was made, in Unix milliseconds.
	Time int64 `json:"time_unix_ms"`
	// Interface is the interface's totals, as in a snapshot.
	Interface Interface `json:"interface"`
	// Attached are its programs, AttachFailures its failed attachments
	// since the start.
	Attached       []Hook `json:"attached"`
	AttachFailures int64  `json:"attach_failures"`
	// Drops are the kernel's drops on it by reason and category.
	Drops []Drop `json:"drops"`
	// History is its rates over the history, oldest first (empty without
	// one).
	History RateHistory `json:"history"`
}

// Detail collects once (shared with concurrent snapshots) and returns the
// detail of interface name; ok is false when it is not counted.
func (s *Source) Detail(ctx context.Context, name string) (d *Detail, ok bool, err error) {
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return nil, false, err
	}
	i := slices.IndexFunc(snap.Interfaces, func(i Interface) bool { return i.Name == name })
	if i < 0 {
		return nil, false, nil
	}
	d = &Detail{Version: SchemaVersion, Time: snap.Time, Interface: snap.Interfaces[i], Attached: []Hook{}, Drops: []Drop{},
		History: RateHistory{Times: []int64{}, Rates: []Rates{}}}
	for _, h := range snap.Agent.Attached {
		if h.Interface == name {
			d.Attached = append(d.Attached, h)
		}
	}
	d.Drops = append(d.Drops, snap.interfaceDrops[name]...)
	d.AttachFailures = snap.interfaceFailures[name]
	if s.history != nil {
		if ih, ok := s.history.Interface(name); ok && len(ih.Rates) > 0 {
			d.History = ih.RateHistory
		}
	}
	return d, true, nil
}

// Snapshot collects once, or waits for the collection in progress and shares it.
func (s *Source) Snapshot(ctx context.Context) (*Snapshot, error) {
	ch := s.group.DoChan("", func() (any, error) {
		// Not the first caller's context: the others share the collection.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), collectTimeout)
		defer cancel()
		var rm metricdata.ResourceMetrics
		if err := s.reader.Collect(cctx, &rm); err != nil {
			return nil, fmt.Errorf("collect: %w", err)
		}
		return build(rm, time.Now()), nil
	})
	select {
	case r := <-ch:
		snap, _ := r.Val.(*Snapshot) // nil with an error
		return snap, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// collectTimeout bounds one shared collection.
const collectTimeout = 30 * time.Second

// build sums one collection per interface.
func build(rm metricdata.ResourceMetrics, now time.Time) *Snapshot {
	b := builder{interfaces: map[string]*Interface{}, drops: map[dropKey]int64{}, interfaceDrops: map[string]map[dropKey]int64{},
		interfaceFailures: map[string]int64{},
		agent:             Agent{Attached: []Hook{}}}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			b.add(m)
		}
	}
	snap := &Snapshot{Version: SchemaVersion, Time: now.UnixMilli(), Interfaces: []Interface{}, Drops: []Drop{}, Agent: b.agent}
	for _, name := range slices.Sorted(maps.Keys(b.interfaces)) {
		i := b.interfaces[name]
		for _, d := range []*Direction{&i.Receive, &i.Transmit} {
			slices.SortFunc(d.Protocols, func(a, b Protocol) int {
				return strings.Compare(a.NetworkType+"/"+a.Transport, b.NetworkType+"/"+b.Transport)
			})
			slices.SortFunc(d.Tunnels, func(a, b TunnelProtocol) int {
				return strings.Compare(a.Tunnel+" "+a.NetworkType+"/"+a.Transport, b.Tunnel+" "+b.NetworkType+"/"+b.Transport)
			})
		}
		snap.Interfaces = append(snap.Interfaces, *i)
	}
	snap.Drops = drops(b.drops)
	snap.interfaceFailures = b.interfaceFailures
	snap.interfaceDrops = make(map[string][]Drop, len(b.interfaceDrops))
	for name, d := range b.interfaceDrops {
		snap.interfaceDrops[name] = drops(d)
	}
	slices.SortFunc(snap.Agent.Attached, func(a, b Hook) int {
		return strings.Compare(a.Interface+" "+a.Direction+" "+a.Hook, b.Interface+" "+b.Direction+" "+b.Hook)
	})
	return snap
}

// drops lists counts by reason and category, sorted.
func drops(counts map[dropKey]int64) []Drop {
	list := make([]Drop, 0, len(counts))
	for k, packets := range counts {
		list = append(list, Drop{Reason: k.reason, Category: k.category, Loss: dropcategory.IsLoss(k.category), Packets: packets})
	}
	slices.SortFunc(list, func(a, b Drop) int {
		return cmp.Or(strings.Compare(a.Reason, b.Reason), strings.Compare(a.Category, b.Category))
	})
	return list
}

// builder accumulates one collection.
type builder struct {
	interfaces        map[string]*Interface
	drops             map[dropKey]int64
	interfaceDrops    map[string]map[dropKey]int64 // those with an interface, by interface
	interfaceFailures map[string]int64
	agent             Agent
}

// iface returns the named interface's entry, created on first use.
func (b *builder) iface(name string) *Interface {
	i, ok := b.interfaces[name]
	if !ok {
		i = &Interface{Name: name, Info: map[string]string{},
			Receive: newDirection(), Transmit: newDirection()}
		b.interfaces[name] = i
	}
	return i
}

// direction returns the entry of the interface and direction attrs name, nil
// for a direction the snapshot does not know.
func (b *builder) direction(attrs attribute.Set) *Direction {
	switch value(attrs, metricdef.NetworkIODirection) {
	case "receive":
		return &b.iface(value(attrs, metricdef.NetworkInterfaceName)).Receive
	case "transmit":
		return &b.iface(value(attrs, metricdef.NetworkInterfaceName)).Transmit
	}
	return nil
}

func (b *builder) add(m metricdata.Metrics) {
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range data.DataPoints {
			b.addSum(m.Name, p)
		}
	case metricdata.Gauge[int64]:
		for _, p := range data.DataPoints {
			b.addGauge(m.Name, p)
		}
	case metricdata.Histogram[int64]:
		if m.Name != metricdef.NetworkPacketSize.Name {
			return
		}
		for _, p := range data.DataPoints {
			if d := b.direction(p.Attributes); d != nil {
				addSizes(&d.Sizes, p.Bounds, p.BucketCounts)
			}
		}
	}
}

func (b *builder) addSum(name string, p metricdata.DataPoint[int64]) {
	attrs := p.Attributes
	switch name {
	case metricdef.NetworkPackets.Name, metricdef.NetworkIO.Name:
		d := b.direction(attrs)
		if d == nil {
			return
		}
		proto := protocol(d, value(attrs, metricdef.NetworkType), value(attrs, metricdef.NetworkTransport))
		if name == metricdef.NetworkPackets.Name {
			d.Packets += p.Value
			proto.Packets += p.Value
		} else {
			d.Bytes += p.Value
			proto.Bytes += p.Value
		}
	case metricdef.NetworkTunnelPackets.Name, metricdef.NetworkTunnelIO.Name:
		d := b.direction(attrs)
		if d == nil {
			return
		}
		t := tunnelProtocol(d, value(attrs, metricdef.TunnelType), value(attrs, metricdef.NetworkType), value(attrs, metricdef.NetworkTransport))
		if name == metricdef.NetworkTunnelPackets.Name {
			t.Packets += p.Value
		} else {
			t.Bytes += p.Value
		}
	case metricdef.NetworkDrops.Name:
		k := dropKey{value(attrs, metricdef.ErrorType), value(attrs, metricdef.DropCategory)}
		b.drops[k] += p.Value
		if iface := value(attrs, metricdef.NetworkInterfaceName); iface != "" {
			if b.interfaceDrops[iface] == nil {
				b.interfaceDrops[iface] = map[dropKey]int64{}
			}
			b.interfaceDrops[iface][k] += p.Value
		}
	case metricdef.AttachFailures.Name:
		b.agent.AttachFailures += p.Value
		b.interfaceFailures[value(attrs, metricdef.NetworkInterfaceName)] += p.Value
	case metricdef.EventsLost.Name:
		b.agent.EventsLost += p.Value
	case metricdef.NetworkParseErrors.Name:
		b.agent.ParseErrors += p.Value
	}
}

func (b *builder) addGauge(name string, p metricdata.DataPoint[int64]) {
	attrs := p.Attributes
	switch name {
	case metricdef.InterfaceAttached.Name:
		if p.Value > 0 {
			b.agent.Attached = append(b.agent.Attached, Hook{Interface: value(attrs, metricdef.NetworkInterfaceName),
				Direction: value(attrs, metricdef.NetworkIODirection), Hook: value(attrs, metricdef.Hook), Mode: value(attrs, metricdef.Mode)})
		}
	case metricdef.InterfaceInfo.Name:
		i := b.iface(value(attrs, metricdef.NetworkInterfaceName))
		for it := attrs.Iter(); it.Next(); {
			if kv := it.Attribute(); kv.Key != metricdef.NetworkInterfaceName {
				i.Info[string(kv.Key)] = kv.Value.String()
			}
		}
	}
}

// protocol returns d's entry for a network type and transport, added on first use.
func protocol(d *Direction, networkType, transport string) *Protocol {
	for i := range d.Protocols {
		if p := &d.Protocols[i]; p.NetworkType == networkType && p.Transport == transport {
			return p
		}
	}
	d.Protocols = append(d.Protocols, Protocol{NetworkType: networkType, Transport: transport})
	return &d.Protocols[len(d.Protocols)-1]
}

// tunnelProtocol returns d's entry for a tunnel type and the network type and
// transport inside, added on first use.
func tunnelProtocol(d *Direction, tunnel, networkType, transport string) *TunnelProtocol {
	for i := range d.Tunnels {
		if t := &d.Tunnels[i]; t.Tunnel == tunnel && t.NetworkType == networkType && t.Transport == transport {
			return t
		}
	}
	d.Tunnels = append(d.Tunnels, TunnelProtocol{Tunnel: tunnel, Protocol: Protocol{NetworkType: networkType, Transport: transport}})
	return &d.Tunnels[len(d.Tunnels)-1]
}

// addSizes adds a histogram point to s (points with other bounds than the
// first are left out: the kernel's buckets are fixed).
func addSizes(s *Sizes, bounds []float64, counts []uint64) {
	if len(s.Bounds) == 0 {
		s.Bounds = slices.Clone(bounds)
		s.Counts = make([]uint64, len(counts))
	}
	if !slices.Equal(s.Bounds, bounds) || len(counts) != len(s.Counts) {
		return
	}
	for i, c := range counts {
		s.Counts[i] += c
	}
}

// newDirection is an empty direction whose lists encode as [], not null.
func newDirection() Direction {
	return Direction{Protocols: []Protocol{}, Sizes: Sizes{Bounds: []float64{}, Counts: []uint64{}}, Tunnels: []TunnelProtocol{}}
}

// value is the string value of key in set, "" when absent.
func value(set attribute.Set, key attribute.Key) string {
	v, _ := set.Value(key)
	return v.AsString()
}
