package receiver

import (
	"context"
	"maps"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// sizeProducer turns the kernel's packet-size buckets into the histogram
// packet_exporter.network.packet.size. The OpenTelemetry SDK has no
// asynchronous histogram, so it is a metric Producer, one per reader: each
// reader collects it with its own temporality. It takes the buckets from the
// read of the counters map that the receiver's callback made in the same
// collection (the SDK runs callbacks before producers), so that one
// collection reads the map once and the histogram agrees with the counters.
type sizeProducer struct {
	c     *trafficCollector
	delta bool

	mu      sync.Mutex
	lastGen uint64                             // the last snapshot produced
	last    map[histogramSeries]histogramState // delta: the previous collection
}

// histogramSeries identifies one histogram series across collections: the
// counter block of an attachment that started at a given time.
type histogramSeries struct {
	block uint32
	start time.Time
}

// histogramState is one series' buckets, their frames and bytes, at one read.
type histogramState struct {
	counts     [bpf.BucketCount]uint64
	count, sum uint64
	time       time.Time
}

// sizeSnapshot is the packet-size state of every attached interface and
// direction at one read of the counters map.
type sizeSnapshot struct {
	gen    uint64    // increases with every read kept
	at     time.Time // when the map was read
	series []sizeSeries
}

type sizeSeries struct {
	key   histogramSeries
	attrs attribute.Set
	state histogramState
}

// snapshotMaxAge is how old a snapshot a producer takes from the callback
// can be; an older one (a reader whose collection ran no callback) is read
// again.
const snapshotMaxAge = time.Second

// keepSizesLocked stores the packet-size state of the attached interfaces in
// blocks, read at now, for the producers, unless a later read is already
// stored (concurrent collections): a producer never goes back in time. The
// caller holds the attacher's read lock.
func (c *trafficCollector) keepSizesLocked(now time.Time, blocks []bpf.Block) sizeSnapshot {
	series := make([]sizeSeries, 0, 2*len(c.att.attached))
	for _, a := range c.att.attached {
		for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
			index := bpf.BlockIndex(a.slot, d)
			s := histogramState{counts: blocks[index].Buckets, time: now}
			for _, c := range blocks[index].Buckets {
				s.count += c
			}
			for _, v := range blocks[index].Classes {
				s.sum += v.Bytes // every frame is in one class
			}
			key := histogramSeries{index, a.start}
			series = append(series, sizeSeries{key: key, attrs: a.attrs.histogram[d], state: s})
		}
	}
	c.sizesMu.Lock()
	defer c.sizesMu.Unlock()
	if now.After(c.sizes.at) {
		c.sizes = sizeSnapshot{gen: c.sizes.gen + 1, at: now, series: series}
	}
	return c.sizes
}

// sizesAfter returns the latest snapshot if it is newer than gen and at most
// snapshotMaxAge old, else reads the counters map for a new one.
func (c *trafficCollector) sizesAfter(gen uint64) (sizeSnapshot, error) {
	c.sizesMu.Lock()
	snap := c.sizes
	c.sizesMu.Unlock()
	if snap.gen > gen && time.Since(snap.at) <= snapshotMaxAge {
		return snap, nil
	}
	now := time.Now()
	c.att.mu.RLock()
	defer c.att.mu.RUnlock()
	err := c.att.reader.Counters(c.att.slots.end(), func(blocks []bpf.Block) error {
		snap = c.keepSizesLocked(now, blocks)
		return nil
	})
	return snap, err
}

// PacketSizeProducer returns a Producer of the packet-size histogram for one
// reader; delta selects delta temporality, as that reader wants it. With
// the histogram switched off it produces nothing.
func (r *Receiver) PacketSizeProducer(delta bool) sdkmetric.Producer {
	return &sizeProducer{c: r.traffic, delta: delta, last: map[histogramSeries]histogramState{}}
}

// Produce returns the histogram of every attached interface and direction.
func (p *sizeProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	if !p.c.sizesOn {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	snap, err := p.c.sizesAfter(p.lastGen)
	if err != nil {
		return nil, err
	}
	p.lastGen = max(p.lastGen, snap.gen)
	var points []metricdata.HistogramDataPoint[int64]
	for _, s := range snap.series {
		points = p.pointLocked(points, s)
	}
	// Delta: forget the series gone since the last collection.
	maps.DeleteFunc(p.last, func(_ histogramSeries, s histogramState) bool { return !s.time.Equal(snap.at) })
	if len(points) == 0 {
		return nil, nil
	}
	temporality := metricdata.CumulativeTemporality
	if p.delta {
		temporality = metricdata.DeltaTemporality
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: metricdef.ScopeName},
		Metrics: []metricdata.Metrics{{
			Name:        metricdef.NetworkPacketSize.Name,
			Description: metricdef.NetworkPacketSize.Description,
			Unit:        metricdef.NetworkPacketSize.Unit,
			Data:        metricdata.Histogram[int64]{DataPoints: points, Temporality: temporality},
		}},
	}}, nil
}

// pointLocked appends the data point of one series, cumulative or as the
// change since the last collection, and skips series that never saw a frame.
func (p *sizeProducer) pointLocked(points []metricdata.HistogramDataPoint[int64],
	series sizeSeries) []metricdata.HistogramDataPoint[int64] {
	s := series.state
	if s.count == 0 {
		return points
	}
	start := series.key.start
	if p.delta {
		prev, ok := p.last[series.key]
		p.last[series.key] = s
		if ok {
			start = prev.time
			for i := range s.counts {
				s.counts[i] -= prev.counts[i]
			}
			s.count -= prev.count
			s.sum -= prev.sum
		}
	}
	return append(points, metricdata.HistogramDataPoint[int64]{
		Attributes:   series.attrs,
		StartTime:    start,
		Time:         s.time,
		Count:        s.count,
		Bounds:       bpf.BucketBounds(),
		BucketCounts: s.counts[:],
		Sum:          int64(s.sum),
	})
}

// PacketSizeSeries is one series of packet_exporter.network.packet.size,
// cumulative from Start to Time.
type PacketSizeSeries struct {
	// Attributes are the series' interface and direction.
	Attributes attribute.Set
	Start      time.Time
	Time       time.Time
	// Bounds are the buckets' upper bounds; Counts has one more entry, the
	// frames above the last bound.
	Bounds []float64
	Counts []uint64
	// Count and Sum are the frames and their bytes.
	Count, Sum uint64
}

// PacketSizes returns the series of the packet-size histogram that saw a
// frame, cumulative, from the read of the collection that just ran (or a
// read of its own when that is over a second old): for an embedder that
// emits the histogram itself rather than through a Producer. It returns
// nothing with the histogram switched off.
func (r *Receiver) PacketSizes() ([]PacketSizeSeries, error) {
	if !r.traffic.sizesOn {
		return nil, nil
	}
	snap, err := r.traffic.sizesAfter(0)
	if err != nil {
		return nil, err
	}
	out := make([]PacketSizeSeries, 0, len(snap.series))
	bounds := bpf.BucketBounds()
	for _, s := range snap.series {
		if s.state.count == 0 {
			continue
		}
		out = append(out, PacketSizeSeries{Attributes: s.attrs, Start: s.key.start, Time: s.state.time,
			Bounds: bounds, Counts: s.state.counts[:], Count: s.state.count, Sum: s.state.sum})
	}
	return out, nil
}
