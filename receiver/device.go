package receiver

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/metric"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// deviceCounters are the drop and error counters the kernel keeps for one
// network device (netlink IFLA_STATS64, what ip -s link shows), by
// direction.
type deviceCounters struct {
	dropped, errors [2]uint64 // indexed by bpf.Direction
}

// deviceCollector observes the drop and error counters the kernel keeps for
// each counted interface's device.
type deviceCollector struct {
	att *attacher
	nl  *netlink.Handle // in the receiver's namespace
}

func (c *deviceCollector) register(meter metric.Meter) (observe, []metric.Observable, error) {
	create := instruments{meter: meter}
	dropped := observable(&create, metricdef.SystemNetworkPacketDropped.Int64Counter)
	errs := observable(&create, metricdef.SystemNetworkErrors.Int64Counter)
	return create.done(func(_ context.Context, o metric.Observer) error {
		return c.observe(o, dropped, errs)
	})
}

// readDeviceCounters returns the counters of every interface of the
// receiver's namespace by ifindex, from one netlink dump. A dump the kernel
// interrupted (links changed meanwhile) still holds every link it lists.
func (c *deviceCollector) readDeviceCounters() (map[int]deviceCounters, error) {
	links, err := c.nl.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("read device statistics: %w", err)
	}
	out := make(map[int]deviceCounters, len(links))
	for _, l := range links {
		a := l.Attrs()
		s := a.Statistics
		if s == nil {
			continue
		}
		var counts deviceCounters
		counts.dropped[bpf.Receive], counts.dropped[bpf.Transmit] = s.RxDropped, s.TxDropped
		counts.errors[bpf.Receive], counts.errors[bpf.Transmit] = s.RxErrors, s.TxErrors
		out[a.Index] = counts
	}
	return out, nil
}

// observe observes the device counters of every counted interface.
func (c *deviceCollector) observe(o metric.Observer, dropped, errs metric.Int64Observable) error {
	counters, err := c.readDeviceCounters()
	if err != nil {
		return err
	}
	c.att.mu.RLock()
	defer c.att.mu.RUnlock()
	for index, a := range c.att.attached {
		counts, ok := counters[index]
		if !ok {
			continue // deleted since the dump
		}
		for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
			o.ObserveInt64(dropped, int64(counts.dropped[d]), a.attrs.device[d])
			o.ObserveInt64(errs, int64(counts.errors[d]), a.attrs.device[d])
		}
	}
	return nil
}
