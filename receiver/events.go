package receiver

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// batchSize is how many events travel to a worker at once.
const batchSize = 256

// eventBatch is a reusable batch of decoded events for one worker.
type eventBatch struct {
	events [batchSize]bpf.Event
	n      int
}

// eventsCollector drains the kernel's ring buffer on a timer and hands the
// decoded events to workers, each of which owns a share of the flow table;
// it observes the stream's accounting and, with flows on, the flows. Nothing
// is allocated per event: batches go back and forth through channels.
type eventsCollector struct {
	att    *attacher
	reader *ringbuf.Reader
	scale  uint64 // the sample rate: each event stands for this many
	flows  config.Flows

	workers []*worker
	limit   flowLimit
	hash    maphash.Hash // the reader's, for sharding

	delivered atomic.Uint64 // records read from the ring
	invalid   atomic.Uint64 // records that did not decode
}

// worker turns batches of events into flow totals.
type worker struct {
	batches chan *eventBatch // full batches, from the reader
	free    chan *eventBatch // empty batches, back to the reader
	table   flowTable
	pending *eventBatch // the batch the reader is filling, reader-owned
}

// batchesPerWorker is how many batches circulate per worker: when all are in
// flight the reader waits, and the ring buffer (counted losses) absorbs the
// burst rather than memory.
const batchesPerWorker = 8

func (c *eventsCollector) register(create *instruments) observe {
	emitted := observable(create, metricdef.EventsEmitted.Int64Counter)
	lost := observable(create, metricdef.EventsLost.Int64Counter)
	delivered := observable(create, metricdef.EventsDelivered.Int64Counter)
	invalid := observable(create, metricdef.EventsInvalid.Int64Counter)
	var flowPackets, flowBytes metric.Int64ObservableCounter
	var active metric.Int64ObservableGauge
	if c.flows.Enabled {
		flowPackets = observable(create, metricdef.FlowPackets.Int64Counter)
		flowBytes = observable(create, metricdef.FlowIO.Int64Counter)
		active = observable(create, metricdef.FlowsActive.Int64Gauge)
	}
	return func(_ context.Context, o metric.Observer) error {
		stats, err := c.att.reader.Stats()
		if err != nil {
			return err
		}
		o.ObserveInt64(emitted, int64(stats[bpf.StatEventsEmitted]))
		o.ObserveInt64(lost, int64(stats[bpf.StatEventsLost]))
		o.ObserveInt64(delivered, int64(c.delivered.Load()))
		o.ObserveInt64(invalid, int64(c.invalid.Load()))
		if !c.flows.Enabled {
			return nil
		}
		var overflow flow
		for _, w := range c.workers {
			w.table.observe(o, flowPackets, flowBytes, &overflow)
		}
		if overflow.packets > 0 {
			o.ObserveInt64(flowPackets, int64(overflow.packets), overflowAttrs)
			o.ObserveInt64(flowBytes, int64(overflow.bytes), overflowAttrs)
		}
		o.ObserveInt64(active, c.limit.used.Load())
		return nil
	}
}

func newEventsCollector(att *attacher) (*eventsCollector, error) {
	reader, err := ringbuf.NewReader(att.maps.Events)
	if err != nil {
		return nil, fmt.Errorf("open event ring buffer: %w", err)
	}
	c := &eventsCollector{att: att, reader: reader, scale: uint64(att.cfg.Events.SampleRate), flows: att.cfg.Flows,
		limit: flowLimit{max: int64(att.cfg.Flows.MaxSeries)}}
	for range att.cfg.Events.Workers {
		w := &worker{
			batches: make(chan *eventBatch, batchesPerWorker),
			free:    make(chan *eventBatch, batchesPerWorker),
			table:   flowTable{flows: map[flowKey]*flow{}},
		}
		for range batchesPerWorker - 1 {
			w.free <- &eventBatch{}
		}
		w.pending = &eventBatch{}
		c.workers = append(c.workers, w)
	}
	return c, nil
}

// start runs the reader and the workers until ctx ends, after a last drain.
func (c *eventsCollector) start(ctx context.Context, running *sync.WaitGroup) {
	for _, w := range c.workers {
		running.Go(func() { c.work(w) })
	}
	running.Go(func() { c.read(ctx) })
}

// close closes the reader, once the goroutines are done.
func (c *eventsCollector) close() error { return c.reader.Close() }

// read drains the ring every interval.
func (c *eventsCollector) read(ctx context.Context) {
	ticker := time.NewTicker(c.att.cfg.Events.DrainInterval)
	defer ticker.Stop()
	var record ringbuf.Record
	for {
		c.drain(&record)
		select {
		case <-ctx.Done():
			c.drain(&record)
			for _, w := range c.workers {
				close(w.batches)
			}
			return
		case <-ticker.C:
		}
	}
}

// drain reads every record available now and hands them out.
func (c *eventsCollector) drain(record *ringbuf.Record) {
	c.reader.SetDeadline(time.Now())
	for {
		err := c.reader.ReadInto(record)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			c.att.log.Error("read event ring buffer", zap.Error(err))
			break
		}
		c.delivered.Add(1)
		w := c.workers[c.shard(record.RawSample)]
		b := w.pending
		if err := bpf.DecodeEvent(record.RawSample, &b.events[b.n]); err != nil {
			c.invalid.Add(1)
			continue
		}
		b.n++
		if b.n == batchSize {
			c.send(w)
		}
	}
	for _, w := range c.workers {
		if w.pending.n > 0 {
			c.send(w)
		}
	}
}

// shard picks the worker of a raw record by the fields of its flow key, so
// that each flow lives in exactly one worker's table.
func (c *eventsCollector) shard(raw []byte) int {
	if len(c.workers) == 1 || len(raw) < bpf.EventSize {
		return 0
	}
	c.hash.Reset()
	bpf.HashEventFlow(&c.hash, raw, c.flows.Ports)
	return int(c.hash.Sum64() % uint64(len(c.workers)))
}

// send hands the worker its pending batch and takes an empty one.
func (c *eventsCollector) send(w *worker) {
	w.batches <- w.pending
	w.pending = <-w.free
}

// work folds batches into the worker's flows and expires idle ones, until the
// reader closes its channel.
func (c *eventsCollector) work(w *worker) {
	sweep := time.NewTicker(max(c.flows.IdleTimeout/4, time.Second))
	defer sweep.Stop()
	for {
		select {
		case b, ok := <-w.batches:
			if !ok {
				return
			}
			if c.flows.Enabled {
				now := time.Now().UnixNano()
				for i := range b.events[:b.n] {
					e := &b.events[i]
					if !e.Src.IsValid() {
						continue // not IP: no flow
					}
					packets, bytes := uint64(e.Packets)*c.scale, uint64(e.Bytes)*c.scale
					w.table.add(e, c.flows.Ports, packets, bytes, now, &c.limit, c.att.nameOfSlot)
				}
			}
			b.n = 0
			w.free <- b
		case <-sweep.C:
			w.table.expire(time.Now().Add(-c.flows.IdleTimeout).UnixNano(), &c.limit)
		}
	}
}
