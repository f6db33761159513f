package receiver

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// trafficCollector observes the traffic counters of the counted interfaces:
// frames and bytes by class, parse errors, the programs' runs and the
// frames the programs could not count, from one read of the counters map
// per collection, which also feeds the packet-size histogram (histogram.go).
type trafficCollector struct {
	att *attacher
	// runs judges, from each read, whether the kernel collects BPF
	// statistics: the program runs are reported only then.
	runs runStats
	// sizesOn tells whether the packet-size histogram is exported
	// (metrics.packet_exporter.network.packet.size.enabled).
	sizesOn bool

	sizesMu sync.Mutex
	sizes   sizeSnapshot // the packet-size state of the last read

	// audit, when packet_exporter.audit.difference is on, is given each
	// read's counts of the directions with a program attached.
	audit *audit
}

func newTrafficCollector(att *attacher, programs kernelRunCounter) *trafficCollector {
	return &trafficCollector{att: att, runs: runStats{programs: programs},
		sizesOn: att.cfg.MetricEnabled(metricdef.NetworkPacketSize.Name)}
}

// trafficInstruments are the instruments of one registration.
type trafficInstruments struct {
	packets, bytes, parseErrors, countErrors, programRuns metric.Int64ObservableCounter
	tunnelPackets, tunnelBytes                            metric.Int64ObservableCounter // nil with tunnels off
	podIO                                                 metric.Int64ObservableCounter // nil without pod metrics
	programTime                                           metric.Float64ObservableCounter
	readDuration                                          metric.Float64Histogram
}

var (
	noCounter = metric.WithAttributes(metricdef.ErrorType.String("no_counter"))
	unmapped  = metric.WithAttributes(metricdef.ErrorType.String("unmapped_interface"))
	// noTunnelCounter: frames counted in their class whose tunnel counters
	// the kernel could not make.
	noTunnelCounter = metric.WithAttributes(metricdef.ErrorType.String("no_tunnel_counter"))
)

func (c *trafficCollector) register(create *instruments) observe {
	i := trafficInstruments{
		packets:      observable(create, metricdef.NetworkPackets.Int64Counter),
		bytes:        observable(create, metricdef.NetworkIO.Int64Counter),
		parseErrors:  observable(create, metricdef.NetworkParseErrors.Int64Counter),
		countErrors:  observable(create, metricdef.KernelCountErrors.Int64Counter),
		programRuns:  observable(create, metricdef.ProgramRuns.Int64Counter),
		programTime:  observable(create, metricdef.ProgramRunTime.Float64Counter),
		readDuration: create.histogram(metricdef.KernelReadDuration),
	}
	if c.att.podMetricsOn() {
		i.podIO = observable(create, metricdef.K8sPodNetworkIO.Int64Counter)
	}
	tunnelsOn := c.att.cfg.Tunnels.Enabled
	if tunnelsOn {
		i.tunnelPackets = observable(create, metricdef.NetworkTunnelPackets.Int64Counter)
		i.tunnelBytes = observable(create, metricdef.NetworkTunnelIO.Int64Counter)
	}
	return func(ctx context.Context, o metric.Observer) error {
		start := time.Now()
		err := c.observeCounters(o, &i)
		if tunnelsOn {
			err = errors.Join(err, c.observeTunnels(o, i.tunnelPackets, i.tunnelBytes))
		}
		i.readDuration.Record(ctx, time.Since(start).Seconds())
		stats, statsErr := c.att.reader.Stats()
		if statsErr == nil {
			o.ObserveInt64(i.countErrors, int64(stats[bpf.StatNoCounter]), noCounter)
			o.ObserveInt64(i.countErrors, int64(stats[bpf.StatUnmapped]), unmapped)
			if tunnelsOn {
				o.ObserveInt64(i.countErrors, int64(stats[bpf.StatNoTunnelCounter]), noTunnelCounter)
			}
		}
		return errors.Join(err, statsErr)
	}
}

// observeCounters reads the counters map once, observes every non-zero
// series of the attached interfaces and keeps the packet-size state for the
// producers.
func (c *trafficCollector) observeCounters(o metric.Observer, i *trafficInstruments) error {
	a := c.att
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.reader.Counters(a.slots.end(), func(blocks []bpf.Block) error {
		// The packet-size producers of this collection take the histogram
		// from this read.
		if c.sizesOn {
			c.keepSizesLocked(time.Now(), blocks)
		}
		// Program runs are reported while the kernel collects BPF
		// statistics (sysctl or a BPF_ENABLE_STATS holder), as before one
		// program served every interface.
		runsOn, _, err := c.runs.update(blocks, nil)
		if err != nil {
			a.log.Debug("program run statistics", zap.Error(err))
		}
		for _, at := range a.attached {
			for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
				block := &blocks[bpf.BlockIndex(at.slot, d)]
				var frameBytes int64 // every class's: the pod's series, when it has one
				for class, v := range block.Classes {
					if v.Packets == 0 {
						continue
					}
					frameBytes += int64(v.Bytes)
					o.ObserveInt64(i.packets, int64(v.Packets), at.attrs.classes[d][class])
					o.ObserveInt64(i.bytes, int64(v.Bytes), at.attrs.classes[d][class])
				}
				for k, packets := range block.Anomalies {
					if packets != 0 {
						o.ObserveInt64(i.parseErrors, int64(packets), at.attrs.anomalies[d][k])
					}
				}
				if at.pod != nil && i.podIO != nil {
					o.ObserveInt64(i.podIO, frameBytes, at.pod[d])
				}
			}
			if c.audit != nil {
				for _, h := range at.hooks {
					block := &blocks[bpf.BlockIndex(at.slot, h.direction)]
					c.audit.counted(at, h.direction, block.Runs, block.Packets())
				}
			}
			if !runsOn {
				continue
			}
			for _, h := range at.hooks {
				if block := &blocks[bpf.BlockIndex(at.slot, h.direction)]; block.Runs > 0 {
					o.ObserveInt64(i.programRuns, int64(block.Runs), h.hookAttrs)
					o.ObserveFloat64(i.programTime, float64(block.RunNanoseconds)/1e9, h.hookAttrs)
				}
			}
		}
		return nil
	})
}
