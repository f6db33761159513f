package receiver

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// ScopeName is the instrumentation scope of the metrics the receiver
// produces without an instrument (the packet-size histogram).
const ScopeName = "github.com/packet-exporter/packet-exporter"

// sizeProducer turns the kernel's packet-size buckets into the histogram
// packet_exporter.network.packet.size. The OpenTelemetry SDK has no
// asynchronous histogram, so it is a metric Producer, one per reader: each
// reader collects it with its own temporality.
type sizeProducer struct {
	r     *Receiver
	delta bool

	mu   sync.Mutex
	last map[histogramSeries]histogramState // delta: the previous collection
}

// histogramSeries identifies one histogram series across collections: the
// counter block of an attachment that started at a given time.
type histogramSeries struct {
	block uint32
	start time.Time
}

type histogramState struct {
	counts [bpf.BucketCount]uint64
	sum    uint64
	time   time.Time
}

// PacketSizeProducer returns a Producer of the packet-size histogram for one
// reader; delta selects delta temporality, as that reader wants it.
func (r *Receiver) PacketSizeProducer(delta bool) sdkmetric.Producer {
	return &sizeProducer{r: r, delta: delta, last: map[histogramSeries]histogramState{}}
}

// Produce reads the buckets of every attached interface and direction.
func (p *sizeProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	now := time.Now()
	var points []metricdata.HistogramDataPoint[int64]
	r := p.r
	r.mu.RLock()
	err := r.reader.Counters(r.slots.end(), func(blocks []bpf.Block) error {
		for _, a := range r.attached {
			for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
				block := &blocks[bpf.BlockIndex(a.slot, d)]
				s := histogramState{counts: block.Buckets}
				for _, v := range block.Classes {
					s.sum += v.Bytes // every frame is in one class
				}
				s.time = now
				points = p.point(points, histogramSeries{bpf.BlockIndex(a.slot, d), a.start}, s, a.attrs.histogram[d])
			}
		}
		return nil
	})
	r.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	p.forgetGone(now)
	if len(points) == 0 {
		return nil, nil
	}
	temporality := metricdata.CumulativeTemporality
	if p.delta {
		temporality = metricdata.DeltaTemporality
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: ScopeName},
		Metrics: []metricdata.Metrics{{
			Name:        MetricPacketSize,
			Description: "Sizes of the frames counted (bytes, Ethernet header included), aggregated in the kernel: its count equals packet_exporter.network.packets of the interface and direction.",
			Unit:        "By",
			Data:        metricdata.Histogram[int64]{DataPoints: points, Temporality: temporality},
		}},
	}}, nil
}

// point appends the data point of one series, cumulative or as the change
// since the last collection, and skips series that never saw a frame.
func (p *sizeProducer) point(points []metricdata.HistogramDataPoint[int64], series histogramSeries, s histogramState, attrs attribute.Set) []metricdata.HistogramDataPoint[int64] {
	var count uint64
	for _, c := range s.counts {
		count += c
	}
	if count == 0 {
		return points
	}
	start := series.start
	counts := s.counts
	sum := s.sum
	if p.delta {
		p.mu.Lock()
		prev, ok := p.last[series]
		p.last[series] = s
		p.mu.Unlock()
		if ok {
			start = prev.time
			for i := range counts {
				counts[i] -= prev.counts[i]
			}
			sum -= prev.sum
			count = 0
			for _, c := range counts {
				count += c
			}
		}
	}
	return append(points, metricdata.HistogramDataPoint[int64]{
		Attributes:   attrs,
		StartTime:    start,
		Time:         s.time,
		Count:        count,
		Bounds:       bpf.BucketBounds,
		BucketCounts: counts[:],
		Sum:          int64(sum),
	})
}

// forgetGone drops the delta state of series not seen in the collection at now.
func (p *sizeProducer) forgetGone(now time.Time) {
	if !p.delta {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, s := range p.last {
		if !s.time.Equal(now) {
			delete(p.last, k)
		}
	}
}
