package receiver

import (
	"fmt"
	"os"
	"syscall"

	"github.com/vishvananda/netns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// runDrops starts the drop counter if the configuration asks for it, and
// hands it to the receiver unless it was closed meanwhile.
func (r *Receiver) runDrops() {
	defer close(r.dropsStarted)
	if !r.cfg.Drops.Enabled {
		return
	}
	d, err := startDrops(r.opts.netns)
	if err != nil {
		r.log.Warn("kernel drops are not counted", zap.Error(err))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		d.Close()
		return
	}
	r.drops = d
	r.log.Info("counting the kernel's drops")
}

// startDrops starts counting the kernel's drops in the receiver's network
// namespace. It returns the counter, or nil and the reason it could not
// start: the exporter runs on without it.
func startDrops(ns netns.NsHandle) (*bpf.DropCounter, error) {
	inode, err := netnsInode(ns)
	if err != nil {
		return nil, err
	}
	return newDropCounter(bpf.DropOptions{NetnsInode: inode, CountUnowned: isInitialNetns(inode)})
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

// goneLocked notes that interface index was deleted: its drop series go at
// once (observeDrops reports only interfaces it knows by name), and its
// counts are deleted at the next listing (one pass over the drop table for
// every interface deleted meanwhile: on a host where containers come and go,
// a pass per deletion would cost more than the rest of the churn), or as
// soon as a new interface takes its index.
func (r *Receiver) goneLocked(index int) {
	delete(r.linkNames, index)
	if r.drops != nil {
		r.gone[index] = true
	}
}

// forgetDropsLocked deletes the drop counts of the interfaces of indexes,
// so that an interface given one of their indexes, or a renamed one, starts
// from zero.
func (r *Receiver) forgetDropsLocked(indexes map[int]bool) {
	if r.drops == nil {
		return
	}
	if err := r.drops.Forget(indexes); err != nil {
		r.log.Warn("forget the drops of deleted or renamed interfaces", zap.Error(err))
	}
	for index := range indexes {
		delete(r.gone, index)
	}
}

var (
	dropFeature    = metric.WithAttributes(AttrFeature.String(bpf.FeatureDropReasons))
	dropsTableFull = metric.WithAttributes(AttrErrorType.String("drops_table_full"))
)

// observeDrops observes the feature drop_reasons (1 once the drop counter
// counts, 0 before and where it cannot run) and the kernel's drops by
// interface, reason and class. Drops on interfaces not (yet) known by name
// are left for a later collection.
func (r *Receiver) observeDrops(o metric.Observer, inst *instruments) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	counting := int64(0)
	if r.drops != nil {
		counting = 1
	}
	o.ObserveInt64(inst.features, counting, dropFeature)
	if r.drops == nil {
		return nil
	}
	full, err := r.drops.TableFull()
	if err != nil {
		return err
	}
	o.ObserveInt64(inst.countErrors, int64(full), dropsTableFull)
	reasons := r.drops.Reasons
	return r.drops.Read(func(d bpf.Drop, packets uint64) {
		attrs := make([]attribute.KeyValue, 0, 4)
		if d.Ifindex != 0 {
			name, ok := r.linkNames[d.Ifindex]
			if !ok {
				return
			}
			attrs = append(attrs, AttrInterface.String(name))
		}
		if d.Class < 0 || d.Class >= bpf.ClassCount {
			return // not written by the program: nothing to name
		}
		c := bpf.ClassOf(d.Class)
		attrs = append(attrs, AttrErrorType.String(reasons.Name(d.Reason)),
			AttrNetType.String(c.NetworkType), AttrTransport.String(c.Transport))
		o.ObserveInt64(inst.drops, int64(packets), metric.WithAttributeSet(attribute.NewSet(attrs...)))
	})
}
