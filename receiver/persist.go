package receiver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// ErrPersistence marks a persistence.path that cannot hold the state.
var ErrPersistence = errors.New("persistence.path")

// pinned is the receiver's state kept in a BPF filesystem (persistence.*):
// the directory of its network namespace, and what a previous run left
// there, until it is adopted or released.
type pinned struct {
	// dir is <persistence.path>/net-<netns inode>/layout-<bpf.Layout>, and
	// drops <persistence.path>/net-<netns inode>/drops-<bpf.DropsLayout>: a
	// BPF filesystem holds no regular files, so the layouts are in the names.
	dir, drops string
	// cookie is the network namespace's cookie (netnsCookie), 0 if unknown.
	cookie uint64
	// adopted are the interfaces a previous run counted, by ifindex: their
	// slots and pinned links, until attached again or released.
	adopted map[int]*adoptedInterface
	// previous is, after an upgrade or a downgrade, the maps the previous
	// build pinned in previousDir in another layout, whose counts this run
	// carries over (carrying: the slot there of each interface attached),
	// until the first listing's end (finishUpgradeLocked).
	previous    *bpf.Predecessor
	previousDir string
	carrying    map[int]int
}

// adoptedInterface is an interface a previous run counted.
type adoptedInterface struct {
	// slot is its slot in this run's maps, -1 when they do not have it yet
	// (an upgrade's).
	slot  int
	start time.Time
	links map[hookKey]*pinnedLink
	// carryFrom is its slot in the previous build's maps (pinned.previous),
	// -1 for none.
	carryFrom int
}

// hookKey is a hook of an interface: its kind (config.HookXDP...) and direction.
type hookKey struct {
	kind      string
	direction bpf.Direction
}

// pinnedLink is a link found pinned, with the XDP mode its name gives.
type pinnedLink struct {
	link.Link
	mode      string
	programID uint32
}

// The directories of a namespace's state.
const (
	layoutPrefix = "layout-" // the counters' maps and links
	dropsPrefix  = "drops-"  // the drop counter's link and maps
	mapsDir      = "maps"
	linksDir     = "links"
)

// namespaceDir returns the directory of network namespace ns (this thread's
// when not open) under path.
func namespaceDir(path string, ns netns.NsHandle) (string, error) {
	inode, err := netnsInode(ns)
	if err != nil {
		return "", err
	}
	return filepath.Join(path, "net-"+strconv.FormatUint(uint64(inode), 10)), nil
}

// openPinned prepares the pinned state of ns under cfg's persistence.path.
// The counters of another layout (another build's) are carried over when
// their schema is one this build reads: their links are moved here, to be
// given this build's programs. Otherwise they are left untouched and nil
// returned: the receiver then counts afresh, without persistence. A drop
// counter of another layout is removed (its link detaches): its counts
// start afresh.
func openPinned(cfg config.Persistence, ns netns.NsHandle, log *zap.Logger) (*pinned, error) {
	nsDir, err := namespaceDir(cfg.Path, ns)
	if err != nil {
		return nil, err
	}
	if err := bpf.PrepareDir(nsDir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPersistence, err)
	}
	layout, err := bpf.Layout()
	if err != nil {
		return nil, err
	}
	dropsLayout, err := bpf.DropsLayout()
	if err != nil {
		return nil, err
	}
	p := &pinned{
		dir: filepath.Join(nsDir, layoutPrefix+layout), drops: filepath.Join(nsDir, dropsPrefix+dropsLayout),
		cookie: netnsCookie(ns), adopted: map[int]*adoptedInterface{}, carrying: map[int]int{},
	}
	entries, err := os.ReadDir(nsDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPersistence, err)
	}
	if p.removeStale(nsDir, entries, log) {
		entries = nil
	}
	var others []string
	for _, e := range entries {
		path := filepath.Join(nsDir, e.Name())
		switch {
		case path == p.dir || path == p.drops:
		case strings.HasPrefix(e.Name(), layoutPrefix):
			others = append(others, path)
		case strings.HasPrefix(e.Name(), dropsPrefix):
			if err := os.RemoveAll(path); err != nil {
				log.Warn("the drop counter of another build not removed", zap.String("dir", path), zap.Error(err))
				continue
			}
			log.Info("the drop counter of another build removed: drops are counted afresh", zap.String("dir", path))
		default:
			log.Warn("not pinned state of packet-exporter; left untouched", zap.String("path", path))
		}
	}
	if len(others) > 0 {
		var refused error
		if len(others) > 1 {
			refused = fmt.Errorf("%d layouts", len(others))
		} else if p.previous, refused = bpf.OpenPredecessor(filepath.Join(others[0], mapsDir)); refused == nil {
			p.previousDir = others[0]
		}
		if refused != nil {
			log.Error("pinned state of another build left untouched; counting afresh, without persistence (packet-exporter --uninstall removes it)",
				zap.Strings("found", others), zap.String("want", p.dir), zap.Error(refused))
			return nil, nil
		}
	}
	for _, dir := range []string{filepath.Join(p.dir, mapsDir), filepath.Join(p.dir, linksDir), p.drops} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			p.close()
			return nil, fmt.Errorf("%w: %w", ErrPersistence, err)
		}
	}
	if p.previous != nil {
		if err := p.moveLinks(); err != nil {
			p.close()
			return nil, err
		}
		log.Info("upgrading the pinned state of another build: its counts are carried over", zap.String("from", p.previousDir), zap.String("to", p.dir))
	}
	return p, nil
}

// removeStale removes the pinned state of nsDir when it is a network
// namespace's that no longer exists, whose inode number this one was given
// again: its cookie differs. Its links are defunct, and its maps and drop
// counter would count this namespace's interfaces and drops on from another
// namespace's counts. It reports whether it did.
func (p *pinned) removeStale(nsDir string, entries []os.DirEntry, log *zap.Logger) bool {
	stale := false
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), layoutPrefix) {
			c := bpf.PinnedNetnsCookie(filepath.Join(nsDir, e.Name(), mapsDir))
			stale = stale || (c != 0 && p.cookie != 0 && c != p.cookie)
		}
	}
	if !stale {
		return false
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), layoutPrefix) || strings.HasPrefix(e.Name(), dropsPrefix) {
			if err := os.RemoveAll(filepath.Join(nsDir, e.Name())); err != nil {
				log.Warn("stale pinned state not removed", zap.String("dir", filepath.Join(nsDir, e.Name())), zap.Error(err))
			}
		}
	}
	log.Warn("pinned state of a network namespace that no longer exists (this one has its inode number) removed; counting afresh", zap.String("dir", nsDir))
	return true
}

// soNetnsCookie is SO_NETNS_COOKIE (asm-generic/socket.h; Linux 5.14).
const soNetnsCookie = 71

// netnsCookie returns the cookie of network namespace ns (this thread's when
// not open), unique while the system runs, or 0 where the kernel has none.
func netnsCookie(ns netns.NsHandle) uint64 {
	read := func() uint64 {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0
		}
		defer unix.Close(fd)
		c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, soNetnsCookie)
		if err != nil {
			return 0
		}
		return c
	}
	if !ns.IsOpen() {
		return read()
	}
	cookie := make(chan uint64)
	go func() {
		// Never unlocked: the goroutine ends on its thread, which the runtime
		// then ends instead of reusing it in ns.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			cookie <- 0
			return
		}
		cookie <- read()
	}()
	return <-cookie
}

// moveLinks moves the links the previous build pinned to this build's
// directory, for adoption.
func (p *pinned) moveLinks() error {
	from := filepath.Join(p.previousDir, linksDir)
	entries, err := os.ReadDir(from)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read the previous build's links: %w", err)
	}
	for _, e := range entries {
		to := filepath.Join(p.dir, linksDir, e.Name())
		err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(from, e.Name()), unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			continue // an interrupted upgrade's: this build's is kept, the other goes with its directory
		}
		if err != nil {
			return fmt.Errorf("move the previous build's link %s: %w", e.Name(), err)
		}
	}
	return nil
}

// close closes the previous build's maps, if open.
func (p *pinned) close() {
	if p.previous != nil {
		p.previous.Close()
		p.previous = nil
	}
}

// mapsDir is where the maps are pinned.
func (p *pinned) mapsDir() string { return filepath.Join(p.dir, mapsDir) }

// linkPath is where the link of hook h of interface ifindex is pinned.
func (p *pinned) linkPath(ifindex int, h hook) string {
	name := fmt.Sprintf("%d-%s-%s", ifindex, h.direction, h.kind)
	if h.mode != "" {
		name += "-" + h.mode
	}
	return filepath.Join(p.dir, linksDir, name)
}

// adopt reads what a previous run left: the interfaces the maps give a
// slot (this build's maps when they were found pinned, and the previous
// build's after an upgrade) and the pinned links. A file that is not a link
// of ours is left as it is.
func (p *pinned) adopt(maps *bpf.Maps, log *zap.Logger) error {
	if maps.Adopted {
		mapped, err := maps.Mapped()
		if err != nil {
			return err
		}
		slots := map[int]bool{}
		for _, m := range mapped {
			if slots[m.Slot] {
				log.Warn("pinned slot map gives a slot twice; the interface starts afresh", zap.Int("ifindex", m.Ifindex), zap.Int("slot", m.Slot))
				continue
			}
			slots[m.Slot] = true
			p.adopted[m.Ifindex] = &adoptedInterface{slot: m.Slot, start: m.Start, links: map[hookKey]*pinnedLink{}, carryFrom: -1}
		}
	}
	if p.previous != nil {
		mapped, err := p.previous.Mapped()
		if err != nil {
			return fmt.Errorf("the previous build's maps: %w", err)
		}
		for _, m := range mapped {
			ad := p.adopted[m.Ifindex]
			if ad == nil {
				ad = &adoptedInterface{slot: -1, start: m.Start, links: map[hookKey]*pinnedLink{}}
				p.adopted[m.Ifindex] = ad
			}
			ad.carryFrom = m.Slot // an interrupted upgrade's too: carrying sets, never adds
		}
		if start := p.previous.DropsStart(); !start.IsZero() && maps.DropsStart().IsZero() {
			if err := maps.SetDropsStart(start); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(p.dir, linksDir))
	if err != nil {
		return fmt.Errorf("read pinned links: %w", err)
	}
	for _, e := range entries {
		path := filepath.Join(p.dir, linksDir, e.Name())
		ifindex, key, mode, ok := parseLinkName(e.Name())
		if !ok {
			log.Warn("not a pinned link of packet-exporter; left untouched", zap.String("path", path))
			continue
		}
		l, err := link.LoadPinnedLink(path, nil)
		if err != nil {
			log.Warn("pinned link not loaded; left untouched", zap.String("path", path), zap.Error(err))
			continue
		}
		ad := p.adopted[ifindex]
		info, err := l.Info()
		if err != nil || ad == nil || infoIfindex(info) != ifindex {
			// Its interface is gone (or was never mapped): so is its counting.
			log.Info("pinned link of an interface no longer counted; removed", zap.String("path", path))
			l.Unpin()
			l.Close()
			continue
		}
		ad.links[key] = &pinnedLink{Link: l, mode: mode, programID: uint32(info.Program)}
	}
	return nil
}

// carryLocked makes slot carry what the previous build counted for the
// interface ifindex in its slot from.
func (a *attacher) carryLocked(ifindex, slot, from int, log *zap.Logger) {
	lost, err := a.maps.CarryFrom(a.pin.previous, slot, from)
	if err != nil {
		log.Error("the previous build's counts of the interface not carried over", zap.Error(err))
		return
	}
	if len(lost) > 0 {
		log.Warn("counters of the previous build this one does not have; their counts are not carried over", zap.Strings("counters", lost))
	}
	a.pin.carrying[ifindex] = from
}

// finishUpgradeLocked ends an upgrade once the first listing has given
// every interface this run's programs: once no program of the previous
// build's can still be counting, each interface's carry is made the final
// count of its previous slot, the programs' statistics are carried, and the
// previous build's maps are unpinned.
func (a *attacher) finishUpgradeLocked() {
	p := a.pin
	if p == nil || p.previous == nil {
		return
	}
	if err := bpf.Quiesce(); err != nil {
		// Programs run for microseconds: a second is an age for them.
		a.log.Warn("waiting for the previous build's programs to end", zap.Error(err))
		time.Sleep(time.Second)
	}
	for ifindex, from := range p.carrying {
		if at, ok := a.attached[ifindex]; ok {
			a.carryLocked(ifindex, at.slot, from, a.log.With(zap.String("interface", at.name)))
		}
	}
	if err := a.maps.CarryStatsFrom(p.previous); err != nil {
		a.log.Error("the previous build's program statistics not carried over", zap.Error(err))
	}
	p.close()
	if err := os.RemoveAll(p.previousDir); err != nil {
		a.log.Warn("the previous build's maps not removed", zap.String("dir", p.previousDir), zap.Error(err))
	}
	a.log.Info("upgraded: the previous build's counts are carried over", zap.Int("interfaces", len(p.carrying)), zap.String("removed", p.previousDir))
	p.carrying = nil
}

// parseLinkName parses a pinned link's name (linkPath).
func parseLinkName(name string) (ifindex int, key hookKey, mode string, ok bool) {
	parts := strings.Split(name, "-")
	if len(parts) < 3 || len(parts) > 4 {
		return 0, hookKey{}, "", false
	}
	ifindex, err := strconv.Atoi(parts[0])
	if err != nil || ifindex < 1 {
		return 0, hookKey{}, "", false
	}
	switch parts[1] {
	case bpf.Receive.String():
		key.direction = bpf.Receive
	case bpf.Transmit.String():
		key.direction = bpf.Transmit
	default:
		return 0, hookKey{}, "", false
	}
	key.kind = parts[2]
	if key.kind != config.HookTCX && key.kind != config.HookXDP {
		return 0, hookKey{}, "", false
	}
	if len(parts) == 4 {
		mode = parts[3]
	}
	return ifindex, key, mode, true
}

// releaseLeftover stops the counting a previous run left on the interfaces
// not attached again (gone, or no longer selected): their links and legacy
// tc filters are detached and their slots freed.
func (a *attacher) releaseLeftoverLocked() {
	if a.pin == nil {
		return
	}
	for ifindex, ad := range a.pin.adopted {
		for _, l := range ad.links {
			l.Unpin()
			l.Close()
		}
		if _, exists := a.linkNames[ifindex]; exists {
			if _, err := removeTCFilters(a.nl, ifindex); err != nil {
				a.log.Warn("left-over tc filters not removed", zap.Int("ifindex", ifindex), zap.Error(err))
			}
		}
		if ad.slot >= 0 {
			a.unmapLocked(ifindex, "", ad.slot)
		}
		a.log.Info("stopped counting an interface counted before the restart", zap.Int("ifindex", ifindex))
		delete(a.pin.adopted, ifindex)
	}
}

// removeTCFilters removes packet-exporter's legacy tc filters from interface
// ifindex at the hooks parents (both without any), and returns how many it
// removed.
func removeTCFilters(nl *netlink.Handle, ifindex int, parents ...uint32) (int, error) {
	if len(parents) == 0 {
		parents = []uint32{tcParent(bpf.Receive), tcParent(bpf.Transmit)}
	}
	var errs []error
	removed := 0
	for _, parent := range parents {
		f := &tcFilter{nl: nl, attrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: parent}}
		filters, err := f.list()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, other := range filters {
			if other.Name != tcFilterName {
				continue
			}
			if err := nl.FilterDel(other); err != nil {
				errs = append(errs, fmt.Errorf("remove tc filter of interface %d: %w", ifindex, err))
				continue
			}
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// takeAdoptedLocked returns the interface of ifindex a previous run counted,
// if any, which is then no longer left over.
func (a *attacher) takeAdoptedLocked(ifindex int) *adoptedInterface {
	if a.pin == nil {
		return nil
	}
	ad := a.pin.adopted[ifindex]
	delete(a.pin.adopted, ifindex)
	return ad
}

// link returns the adopted link of hook kind in direction d, or nil.
func (ad *adoptedInterface) link(kind string, d bpf.Direction) *pinnedLink {
	if ad == nil {
		return nil
	}
	return ad.links[hookKey{kind, d}]
}

// countedThroughLink reports whether the previous run counted direction d
// through a (pinned) link.
func (ad *adoptedInterface) countedThroughLink(d bpf.Direction) bool {
	for key := range ad.links {
		if key.direction == d {
			return true
		}
	}
	return false
}

// detachUnusedLocked detaches what the previous run attached to an adopted
// interface and no hook of this run took over (the configuration changed the
// hook): its links, and its legacy tc filters where this run's hook is not
// legacy tc (they would count into the same slot). It runs after the hooks
// that replace them are attached, so that no frame goes uncounted.
func (a *attacher) detachUnusedLocked(ad *adoptedInterface, index int, hooks []hook, log *zap.Logger) {
	if ad == nil {
		return
	}
	for key, l := range ad.links {
		if l.Link == nil {
			continue
		}
		if err := (bpfLink{l.Link}).Close(); err != nil {
			log.Warn("detach the previous run's link", zap.String("hook", key.kind), zap.Error(err))
		}
	}
	for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
		if slices.ContainsFunc(hooks, func(h hook) bool { return h.direction == d && h.kind == config.HookTC }) {
			continue // replaced in place
		}
		if ad.countedThroughLink(d) {
			continue // the previous run counted it through a link, not a filter
		}
		if _, err := removeTCFilters(a.nl, index, tcParent(d)); err != nil {
			log.Warn("the previous run's tc filter not removed", zap.String("direction", d.String()), zap.Error(err))
		}
	}
}

// newMaps creates the kernel maps; with persistence, those pinned for the
// receiver's namespace are used, and what the previous run counted is read
// for adoption. Pinned maps that do not fit this configuration (another
// limits.max_interfaces) are left untouched and counting starts afresh,
// without persistence.
func newMaps(cfg config.Config, o options, events bpf.EventOptions, log *zap.Logger) (*pinned, *bpf.Maps, error) {
	tunnels := bpf.WithTunnels(TunnelOptions(cfg.Tunnels))
	if !cfg.Persistence.Enabled {
		maps, err := bpf.NewMaps(cfg.Limits.MaxInterfaces, events, tunnels)
		return nil, maps, err
	}
	pin, err := openPinned(cfg.Persistence, o.netns, log)
	if err != nil {
		return nil, nil, err
	}
	if pin == nil { // another build's state: left alone
		maps, err := bpf.NewMaps(cfg.Limits.MaxInterfaces, events, tunnels)
		return nil, maps, err
	}
	maps, err := bpf.NewMaps(cfg.Limits.MaxInterfaces, events, tunnels, bpf.WithPinDir(pin.mapsDir()))
	if errors.Is(err, bpf.ErrPinnedIncompatible) {
		log.Error("pinned maps do not fit this configuration or are not maps of packet-exporter's; left untouched, counting afresh without persistence (packet-exporter --uninstall removes them)",
			zap.String("dir", pin.dir), zap.Error(err))
		pin.close()
		maps, err = bpf.NewMaps(cfg.Limits.MaxInterfaces, events, tunnels)
		return nil, maps, err
	}
	if err != nil {
		pin.close()
		return nil, nil, err
	}
	if maps.NetnsCookie() == 0 {
		if err := maps.SetNetnsCookie(pin.cookie); err != nil {
			log.Warn("the network namespace of the pinned state not recorded", zap.Error(err))
		}
	}
	if !cfg.Drops.Enabled {
		// A drop counter a previous run left, no longer wanted: its link
		// detaches as its pin goes.
		if err := os.RemoveAll(pin.drops); err != nil {
			log.Warn("the previous run's drop counter not removed", zap.Error(err))
		}
	}
	if maps.Adopted || pin.previous != nil {
		if err := pin.adopt(maps, log); err != nil {
			pin.close()
			maps.Close()
			return nil, nil, err
		}
		log.Info("adopting the pinned state of a previous run", zap.String("dir", pin.dir), zap.Int("interfaces", len(pin.adopted)))
	}
	return pin, maps, nil
}

// Uninstall removes what packet-exporter left in this thread's network
// namespace: the pinned state under path (its links detach as their pins go)
// and the legacy tc filters of every interface. It returns what it removed:
// the pinned objects and the filters.
func Uninstall(path string) (pins, filters int, err error) {
	nsDir, err := namespaceDir(path, netns.None())
	if err != nil {
		return 0, 0, err
	}
	walkErr := filepath.WalkDir(nsDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		pins++
		// A link is detached here, as its last reference closes, rather
		// than later, when the kernel gets to the release of its pin.
		if l, err := link.LoadPinnedLink(path, nil); err == nil {
			l.Unpin()
			l.Close()
		}
		return nil
	})
	if walkErr != nil && !errors.Is(walkErr, os.ErrNotExist) {
		return 0, 0, fmt.Errorf("read %s: %w", nsDir, walkErr)
	}
	if err := os.RemoveAll(nsDir); err != nil {
		return 0, 0, fmt.Errorf("remove %s: %w", nsDir, err)
	}
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return pins, 0, fmt.Errorf("netlink handle: %w", err)
	}
	defer nl.Close()
	links, err := nl.LinkList()
	if err != nil {
		return pins, 0, fmt.Errorf("list interfaces: %w", err)
	}
	var errs []error
	for _, l := range links {
		n, err := removeTCFilters(nl, l.Attrs().Index)
		filters += n
		errs = append(errs, err)
	}
	return pins, filters, errors.Join(errs...)
}

// SeriesStarts returns, with persistence, a function that tells when the
// cumulative series of a metric with attributes attrs began, for the series
// whose counts the kernel keeps across runs: an interface's traffic, parse
// errors and program runs from when its slot began counting, the drops and
// the programs' own errors from when their maps were made. Those series keep
// their start time across restarts, so that an OTLP consumer never takes a
// restart for a reset; for the others, and without persistence, it returns
// false and the series start with the run. It reads the interfaces' starts
// once, when called.
func (r *Receiver) SeriesStarts() func(metric string, attrs attribute.Set) (time.Time, bool) {
	a := r.att
	if a.pin == nil {
		return func(string, attribute.Set) (time.Time, bool) { return time.Time{}, false }
	}
	a.mu.RLock()
	byName := make(map[string]time.Time, len(a.attached))
	for _, at := range a.attached {
		byName[at.name] = at.start
	}
	a.mu.RUnlock()
	maps, drops := a.maps.MapsStart(), a.maps.DropsStart()
	return func(metric string, attrs attribute.Set) (time.Time, bool) {
		var start time.Time
		switch metric {
		case metricdef.NetworkPackets.Name, metricdef.NetworkIO.Name, metricdef.NetworkParseErrors.Name,
			metricdef.ProgramRuns.Name, metricdef.ProgramRunTime.Name:
			name, _ := attrs.Value(metricdef.NetworkInterfaceName)
			start = byName[name.AsString()]
		case metricdef.NetworkTunnelPackets.Name, metricdef.NetworkTunnelIO.Name:
			// The tunnel counters are not carried over an upgrade between
			// layouts (bpf.CarryFrom): they start with the maps too.
			name, _ := attrs.Value(metricdef.NetworkInterfaceName)
			start = byName[name.AsString()]
			if maps.After(start) && !start.IsZero() {
				start = maps
			}
		case metricdef.NetworkDrops.Name:
			start = drops
		case metricdef.KernelCountErrors.Name:
			start = maps
		}
		return start, !start.IsZero()
	}
}
