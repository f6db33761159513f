package receiver

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/dropcategory"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// dropsCollector counts the kernel's drops in the receiver's namespace
// (bpf.DropCounter) and observes them by interface, reason and class. The
// counter starts beside the interfaces, and the exporter runs on without
// it where it cannot.
type dropsCollector struct {
	att *attacher
	// counter is nil until it has started, and where it cannot run.
	counter atomic.Pointer[bpf.DropCounter]
	// tried is closed once the counter has started or failed to.
	tried chan struct{}
}

func newDropsCollector(att *attacher) *dropsCollector {
	c := &dropsCollector{att: att, tried: make(chan struct{})}
	// Before the watch starts: it tells the collector of every interface
	// deleted or renamed, whose counts go.
	att.forget = c.forget
	return c
}

// start starts counting the kernel's drops in the receiver's network
// namespace, on a goroutine of its own: loading the kernel's BTF takes a few
// hundred milliseconds of CPU, and counting runs without it.
func (c *dropsCollector) start(_ context.Context, running *sync.WaitGroup) {
	running.Go(func() {
		defer close(c.tried)
		inode, err := netnsInode(c.att.opts.netns)
		var d *bpf.DropCounter
		if err == nil {
			opts := bpf.DropOptions{NetnsInode: inode, CountUnowned: isInitialNetns(inode)}
			if c.att.pin != nil {
				opts.PinDir = c.att.pin.drops
			}
			d, err = newDropCounter(opts)
		}
		if err != nil {
			c.att.log.Warn("kernel drops are not counted", zap.Error(err))
			return
		}
		if !d.Adopted() {
			if err := c.att.maps.SetDropsStart(time.Now()); err != nil {
				c.att.log.Warn("the start of the drop counts not kept for the next run", zap.Error(err))
			}
		}
		c.counter.Store(d)
		c.att.log.Info("counting the kernel's drops", zap.Bool("adopted", d.Adopted()))
	})
}

// close stops the drop counter, once it has started or failed.
func (c *dropsCollector) close() error {
	if d := c.counter.Swap(nil); d != nil {
		return d.Close()
	}
	return nil
}

// newDropCounter is bpf.NewDropCounter; tests replace it to see the receiver
// run on without it.
var newDropCounter = bpf.NewDropCounter

// initNetInode is the inode number recent kernels give the initial network
// namespace (PROC_NET_INIT_INO); older ones number it like any other.
const initNetInode = 0xEFFFFFF9

// isInitialNetns reports whether the namespace of inode is the initial one:
// drops with neither device nor socket are counted by its exporter only. It
// is where the kernel gives it its fixed number, or where it is that of PID 1
// as this process sees it (which a process without the right to inspect PID
// 1, such as the shipped systemd unit's, cannot tell on older kernels).
func isInitialNetns(inode uint32) bool {
	if inode == initNetInode {
		return true
	}
	pid1, err := os.Stat("/proc/1/ns/net")
	if err != nil {
		return false
	}
	st, ok := pid1.Sys().(*syscall.Stat_t)
	return ok && uint32(st.Ino) == inode
}

// netnsInode returns the inode number of namespace ns, or of this thread's
// when ns is not open.
func netnsInode(ns netns.NsHandle) (uint32, error) {
	if !ns.IsOpen() {
		current, err := netns.Get()
		if err != nil {
			return 0, fmt.Errorf("drops: own network namespace: %w", err)
		}
		defer current.Close()
		ns = current
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(ns), &st); err != nil {
		return 0, fmt.Errorf("drops: network namespace: %w", err)
	}
	return uint32(st.Ino), nil
}

// forget deletes the drop counts of the interfaces of indexes, deleted or
// renamed, so that an interface given one of their indexes, or a renamed
// one, starts from zero. The attacher calls it under its lock.
func (c *dropsCollector) forget(indexes map[int]bool) {
	d := c.counter.Load()
	if d == nil {
		return
	}
	if err := d.Forget(indexes); err != nil {
		c.att.log.Warn("forget the drops of deleted or renamed interfaces", zap.Error(err))
	}
}

var (
	dropFeature    = metric.WithAttributes(metricdef.Feature.String(bpf.FeatureDropReasons))
	dropsTableFull = metric.WithAttributes(metricdef.ErrorType.String("drops_table_full"))
)

func (c *dropsCollector) register(create *instruments) observe {
	drops := observable(create, metricdef.NetworkDrops.Int64Counter)
	countErrors := observable(create, metricdef.KernelCountErrors.Int64Counter)
	features := observable(create, metricdef.KernelFeatures.Int64Gauge)
	// The feature drop_reasons is 1 once the drop counter counts, 0 before
	// and where it cannot run. Drops on interfaces not (yet) known by name
	// are left for a later collection.
	return func(_ context.Context, o metric.Observer) error {
		c.att.mu.RLock()
		defer c.att.mu.RUnlock()
		d := c.counter.Load()
		if d == nil {
			o.ObserveInt64(features, 0, dropFeature)
			return nil
		}
		o.ObserveInt64(features, 1, dropFeature)
		full, err := d.TableFull()
		if err != nil {
			return err
		}
		o.ObserveInt64(countErrors, int64(full), dropsTableFull)
		return c.readLocked(d, func(drop bpf.Drop, iface, reason string, packets uint64) {
			attrs := make([]attribute.KeyValue, 0, 5)
			if iface != "" {
				attrs = append(attrs, metricdef.NetworkInterfaceName.String(iface))
			}
			if drop.Class < 0 || drop.Class >= bpf.ClassCount {
				return // not written by the program: nothing to name
			}
			class := bpf.ClassOf(drop.Class)
			attrs = append(attrs, metricdef.ErrorType.String(reason), metricdef.DropCategory.String(dropcategory.Of(reason, drop.Note)),
				metricdef.NetworkType.String(class.NetworkType), metricdef.NetworkTransport.String(class.Transport))
			o.ObserveInt64(drops, int64(packets), metric.WithAttributeSet(attribute.NewSet(attrs...)))
		})
	}
}

// readLocked calls fn with every count of d, the name of its interface (""
// for drops of none) and of its reason. Drops on interfaces not (yet) known
// by name are left out. The caller holds the attacher's read lock.
func (c *dropsCollector) readLocked(d *bpf.DropCounter, fn func(drop bpf.Drop, iface, reason string, packets uint64)) error {
	return d.Read(func(drop bpf.Drop, packets uint64) {
		var name string
		if drop.Ifindex != 0 {
			var ok bool
			if name, ok = c.att.linkNames[drop.Ifindex]; !ok {
				return
			}
		}
		fn(drop, name, d.Reasons.Name(drop.Reason), packets)
	})
}
