package receiver

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/metric"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// deviceCounters are the drop and error counters the kernel keeps for one
// network device (netlink IFLA_STATS64, what ip -s link shows), by
// direction.
type deviceCounters struct {
	dropped, errors [2]uint64 // indexed by bpf.Direction
}

// readDeviceCounters returns the counters of every interface of the
// receiver's namespace by ifindex, from one netlink dump. A dump the kernel
// interrupted (links changed meanwhile) still holds every link it lists.
func (r *Receiver) readDeviceCounters() (map[int]deviceCounters, error) {
	links, err := r.nl.LinkList()
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
		var c deviceCounters
		c.dropped[bpf.Receive], c.dropped[bpf.Transmit] = s.RxDropped, s.TxDropped
		c.errors[bpf.Receive], c.errors[bpf.Transmit] = s.RxErrors, s.TxErrors
		out[a.Index] = c
	}
	return out, nil
}

// observeDevices observes the device counters of every counted interface.
func (r *Receiver) observeDevices(o metric.Observer, inst *instruments) error {
	counters, err := r.readDeviceCounters()
	if err != nil {
		return err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for index, a := range r.attached {
		c, ok := counters[index]
		if !ok {
			continue // deleted since the dump
		}
		for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
			o.ObserveInt64(inst.deviceDropped, int64(c.dropped[d]), a.attrs.device[d])
			o.ObserveInt64(inst.deviceErrors, int64(c.errors[d]), a.attrs.device[d])
		}
	}
	return nil
}
