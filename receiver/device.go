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

// deviceCollector observes the byte, packet, drop and error counters the
// kernel keeps for each counted interface's device (netlink IFLA_STATS64,
// what ip -s link shows), and the pods' errors from those of their veths.
type deviceCollector struct {
	att *attacher
	nl  *netlink.Handle // in the receiver's namespace
	// audit, when packet_exporter.audit.difference is on, compares each
	// device's packets with the traffic collector's last read.
	audit *audit
}

func (c *deviceCollector) register(create *instruments) observe {
	bytes := observable(create, metricdef.SystemNetworkIO.Int64Counter)
	packets := observable(create, metricdef.SystemNetworkPacketCount.Int64Counter)
	dropped := observable(create, metricdef.SystemNetworkPacketDropped.Int64Counter)
	errs := observable(create, metricdef.SystemNetworkErrors.Int64Counter)
	var podErrs metric.Int64ObservableCounter
	if c.att.podMetricsOn() {
		podErrs = observable(create, metricdef.K8sPodNetworkErrors.Int64Counter)
	}
	var audited metric.Int64ObservableGauge
	if c.audit != nil {
		audited = observable(create, metricdef.AuditDifference.Int64Gauge)
	}
	return func(_ context.Context, o metric.Observer) error {
		// One netlink dump of every interface of the receiver's namespace: one
		// the kernel interrupted (links changed meanwhile) still holds every
		// link it lists.
		links, err := c.nl.LinkList()
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return fmt.Errorf("read device statistics: %w", err)
		}
		stats := make(map[int]*netlink.LinkStatistics, len(links))
		for _, l := range links {
			if s := l.Attrs().Statistics; s != nil {
				stats[l.Attrs().Index] = s
			}
		}
		c.att.mu.RLock()
		defer c.att.mu.RUnlock()
		for index, at := range c.att.attached {
			s, ok := stats[index]
			if !ok {
				continue // deleted since the dump
			}
			rx, tx := at.attrs.device[bpf.Receive], at.attrs.device[bpf.Transmit]
			rxDevice, txDevice := at.attrs.systemDevice[bpf.Receive], at.attrs.systemDevice[bpf.Transmit]
			o.ObserveInt64(bytes, int64(s.RxBytes), rx)
			o.ObserveInt64(packets, int64(s.RxPackets), rxDevice)
			o.ObserveInt64(dropped, int64(s.RxDropped), rx)
			o.ObserveInt64(errs, int64(s.RxErrors), rx)
			o.ObserveInt64(bytes, int64(s.TxBytes), tx)
			o.ObserveInt64(packets, int64(s.TxPackets), txDevice)
			o.ObserveInt64(dropped, int64(s.TxDropped), tx)
			o.ObserveInt64(errs, int64(s.TxErrors), tx)
			if at.pod != nil && podErrs != nil {
				o.ObserveInt64(podErrs, int64(s.RxErrors), at.pod[bpf.Receive])
				o.ObserveInt64(podErrs, int64(s.TxErrors), at.pod[bpf.Transmit])
			}
			if c.audit == nil {
				continue
			}
			for _, h := range at.hooks {
				// The device counts a frame it drops after the egress hook saw
				// it (a full peer's backlog, a device down) in tx_dropped.
				device := s.RxPackets
				if h.direction == bpf.Transmit {
					device = s.TxPackets + s.TxDropped
				}
				if diff, ok := c.audit.difference(at, h.direction, device); ok {
					o.ObserveInt64(audited, diff, at.attrs.device[h.direction])
				}
			}
		}
		if c.audit != nil {
			c.audit.forget(c.att.attached)
		}
		return nil
	}
}
