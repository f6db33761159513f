package receiver

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// resyncInterval is how often the interfaces are re-listed even when netlink
// reported nothing lost: a safety net, cheap next to everything else.
const resyncInterval = 10 * time.Second

// watch runs on its own OS thread, in the receiver's network namespace, for
// the life of the receiver: it subscribes to link changes, lists the links,
// attaches and detaches. When the subscription loses messages (ENOBUFS) it
// subscribes again and reconciles against a fresh list.
func (a *attacher) watch(ctx context.Context) {
	// Never unlocked: a thread that entered another namespace must die with
	// this goroutine rather than go back to the scheduler.
	runtime.LockOSThread()
	if a.opts.netns.IsOpen() {
		if err := netns.Set(a.opts.netns); err != nil {
			a.started <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
	}
	for first := true; ; first = false {
		// Unbuffered: the socket buffer is the queue, and its overflow (ENOBUFS)
		// the signal that updates were lost.
		updates := make(chan netlink.LinkUpdate)
		done := make(chan struct{})
		// A message the library could not decode is skipped: it may have been
		// a deletion, so list again rather than trust the stream.
		undecoded := make(chan struct{}, 1)
		err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
			ErrorCallback: func(err error) {
				a.log.Debug("netlink subscription", zap.Error(err))
				select {
				case undecoded <- struct{}{}:
				default:
				}
			},
			ReceiveBufferSize:      a.opts.netlinkBuffer,
			ReceiveBufferForceSize: true,
		})
		if err == nil {
			// Subscribed before listing: no change can fall between the two.
			err = a.reconcile()
		}
		if first {
			if err != nil {
				close(done)
				a.started <- err
				return
			}
			a.mu.Lock()
			// What the previous run counted and this one does not: its
			// interfaces are gone or no longer selected.
			a.releaseLeftoverLocked()
			a.finishUpgradeLocked()
			a.ready = true
			a.mu.Unlock()
			a.started <- nil
		}
		if err != nil {
			a.log.Error("watch interfaces", zap.Error(err))
		}
		lost := err == nil && a.consume(ctx, updates, undecoded)
		close(done)
		go func() {
			for range updates { // let the subscription's reader finish
			}
		}()
		if ctx.Err() != nil {
			return
		}
		if lost {
			a.mu.Lock()
			a.resyncs++
			a.mu.Unlock()
			a.log.Warn("netlink link updates were lost; listing interfaces again")
		} else {
			select { // the subscription could not start: try again shortly
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// consume applies link updates until ctx ends (false) or the subscription
// breaks, which means messages were lost (true).
func (a *attacher) consume(ctx context.Context, updates <-chan netlink.LinkUpdate, undecoded <-chan struct{}) bool {
	resync := time.NewTicker(resyncInterval)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case u, ok := <-updates:
			if !ok {
				return true
			}
			a.handle(u)
			continue
		case <-resync.C:
		case <-undecoded:
		}
		if err := a.reconcile(); err != nil {
			a.log.Warn("list interfaces", zap.Error(err))
		}
	}
}

func (a *attacher) handle(u netlink.LinkUpdate) {
	l := linkInfoOf(u.Link)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	if u.Header.Type == unix.RTM_DELLINK {
		a.detachLocked(l.index)
		a.forgetFailuresLocked(func(iface string) bool { return iface == l.name })
		// Its state kept by ifindex goes at the next listing (one pass over the
		// drop table for every interface deleted meanwhile: on a host where
		// containers come and go, a pass per deletion would cost more than the
		// rest of the churn), or as soon as a new interface takes its index.
		delete(a.linkNames, l.index)
		if a.forget != nil {
			a.gone[l.index] = true
		}
		return
	}
	if old, ok := a.linkNames[l.index]; (ok && old != l.name) || a.gone[l.index] {
		a.forgetLocked(map[int]bool{l.index: true}) // renamed, or a new interface in a deleted one's index
	}
	a.linkNames[l.index] = l.name
	a.applyLocked(l)
}

// applyLocked brings one existing link to the state the configuration wants.
func (a *attacher) applyLocked(l linkInfo) {
	if at, ok := a.attached[l.index]; ok {
		if at.name == l.name {
			if at.facts != l.facts { // enslaved or freed, its peer moved
				at.facts = l.facts
				a.setInfoLocked(at)
			}
			return
		}
		// Renamed (or an index reused unseen): start over under the new name.
		if id := a.detachLocked(l.index); id != 0 && id == l.xdpProgID {
			l.xdpForeign = false
		}
	}
	if !a.cfg.Interfaces.Match(l.name) {
		delete(a.skipped, l.index)
		return
	}
	if s, ok := a.skipped[l.index]; ok && s.name == l.name && s.reason == reasonUnsupportedLink {
		return // permanent: do not count the same failure again
	}
	a.attachLocked(l)
}

// reconcile lists the links and attaches, detaches or re-attaches so that
// exactly the matching ones are counted, each under its current name.
func (a *attacher) reconcile() error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	// In listing (ifindex) order, so that slots go to interfaces predictably.
	ordered := make([]linkInfo, len(links))
	current := make(map[int]linkInfo, len(links))
	names := make(map[string]bool, len(links))
	for i, nl := range links {
		ordered[i] = linkInfoOf(nl)
		current[ordered[i].index] = ordered[i]
		names[ordered[i].name] = true
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	for index, at := range a.attached {
		if l, ok := current[index]; !ok || l.name != at.name || !at.alive() {
			a.detachLocked(index)
		}
	}
	for index := range a.skipped {
		if _, ok := current[index]; !ok {
			delete(a.skipped, index)
		}
	}
	// Drop counts to delete: of interfaces deleted or renamed since the last
	// listing, and of any index deleted and taken again unseen.
	forget := maps.Clone(a.gone)
	linkNames := make(map[int]string, len(current))
	for index, l := range current {
		if old, ok := a.linkNames[index]; ok && old != l.name {
			forget[index] = true
		}
		linkNames[index] = l.name
	}
	a.linkNames = linkNames
	a.forgetLocked(forget)
	for _, at := range a.attached {
		if at.facts.masterIndex != 0 {
			a.setInfoLocked(at) // its master may have been renamed
		}
	}
	a.mu.Unlock()
	// One interface at a time: loading its programs takes tens of
	// milliseconds, and collections and probes must not wait for them all.
	for _, l := range ordered {
		a.mu.Lock()
		if !a.closed {
			a.applyLocked(l)
		}
		a.mu.Unlock()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forgetFailuresLocked(func(iface string) bool { return !names[iface] })
	a.reportMissingLocked(names)
	return nil
}

// forgetFailuresLocked drops the attach-failure series of the interfaces
// gone reports: on a host where interfaces come and go (a veth per container)
// they would otherwise pile up. The not_found series of configured names that
// do not exist stay.
func (a *attacher) forgetFailuresLocked(gone func(iface string) bool) {
	maps.DeleteFunc(a.failures, func(k failureKey, _ int64) bool { return !a.missing[k.iface] && gone(k.iface) })
}

// reportMissingLocked warns about, and counts once as not_found, every
// include pattern naming one interface literally (no glob characters) that
// does not exist.
func (a *attacher) reportMissingLocked(names map[string]bool) {
	for _, pattern := range a.cfg.Interfaces.Include {
		if strings.ContainsAny(pattern, `*?[\`) || names[pattern] || a.missing[pattern] {
			continue
		}
		a.missing[pattern] = true
		a.log.Warn("configured interface does not exist (yet)", zap.String("interface", pattern))
		a.failLocked(pattern, bpf.Receive, a.hookKind(a.cfg.Ingress.Hook), reasonNotFound)
	}
}

func linkInfoOf(nl netlink.Link) linkInfo {
	attrs := nl.Attrs()
	l := linkInfo{name: attrs.Name, index: attrs.Index, encap: attrs.EncapType, facts: linkFactsOf(nl)}
	if x := attrs.Xdp; x != nil && x.Attached {
		l.xdpForeign, l.xdpProgID = true, x.ProgId
	}
	return l
}

// alive reports whether every link of the attachment is still attached to
// its interface (a deleted interface takes its links with it).
func (at *attachment) alive() bool {
	for _, h := range at.hooks {
		if h.link.Ifindex() != at.index {
			return false
		}
	}
	return true
}
