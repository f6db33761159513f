package receiver

import (
	"context"
	"fmt"
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
func (r *Receiver) watch(ctx context.Context, started chan<- error) {
	defer close(r.stopped)
	// Never unlocked: a thread that entered another namespace must die with
	// this goroutine rather than go back to the scheduler.
	runtime.LockOSThread()
	if r.opts.netns.IsOpen() {
		if err := netns.Set(r.opts.netns); err != nil {
			started <- fmt.Errorf("enter network namespace: %w", err)
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
				r.log.Debug("netlink subscription", zap.Error(err))
				select {
				case undecoded <- struct{}{}:
				default:
				}
			},
			ReceiveBufferSize:      r.opts.netlinkBuffer,
			ReceiveBufferForceSize: true,
		})
		if err == nil {
			// Subscribed before listing: no change can fall between the two.
			err = r.reconcile()
		}
		if first {
			if err != nil {
				close(done)
				started <- err
				return
			}
			r.mu.Lock()
			r.ready = true
			r.mu.Unlock()
			started <- nil
		}
		if err != nil {
			r.log.Error("watch interfaces", zap.Error(err))
		}
		lost := err == nil && r.consume(ctx, updates, undecoded)
		close(done)
		go func() {
			for range updates { // let the subscription's reader finish
			}
		}()
		if ctx.Err() != nil {
			return
		}
		if lost {
			r.mu.Lock()
			r.resyncs++
			r.mu.Unlock()
			r.log.Warn("netlink link updates were lost; listing interfaces again")
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
func (r *Receiver) consume(ctx context.Context, updates <-chan netlink.LinkUpdate, undecoded <-chan struct{}) bool {
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
			r.handle(u)
			continue
		case <-resync.C:
		case <-undecoded:
		}
		if err := r.reconcile(); err != nil {
			r.log.Warn("list interfaces", zap.Error(err))
		}
	}
}

// handle applies one link update.
func (r *Receiver) handle(u netlink.LinkUpdate) {
	l := linkInfoOf(u.Link)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if u.Header.Type == unix.RTM_DELLINK {
		r.detachLocked(l.index)
		r.forgetFailuresLocked(map[string]bool{}, l.name)
		r.goneLocked(l.index)
		return
	}
	if old, ok := r.linkNames[l.index]; (ok && old != l.name) || r.gone[l.index] {
		r.forgetDropsLocked(map[int]bool{l.index: true}) // renamed, or a new interface in a deleted one's index
	}
	r.linkNames[l.index] = l.name
	r.applyLocked(l)
}

// applyLocked brings one existing link to the state the configuration wants.
func (r *Receiver) applyLocked(l linkInfo) {
	if a, ok := r.attached[l.index]; ok {
		if a.name == l.name {
			if a.facts != l.facts { // enslaved or freed, its peer moved
				a.facts = l.facts
				r.setInfoLocked(a)
			}
			return
		}
		// Renamed (or an index reused unseen): start over under the new name.
		if id := r.detachLocked(l.index); id != 0 && id == l.xdpProgID {
			l.xdpForeign = false
		}
	}
	if !r.cfg.Interfaces.Match(l.name) {
		delete(r.skipped, l.index)
		return
	}
	if s, ok := r.skipped[l.index]; ok && s.name == l.name && s.reason == reasonUnsupportedLink {
		return // permanent: do not count the same failure again
	}
	r.attachLocked(l)
}

// reconcile lists the links and attaches, detaches or re-attaches so that
// exactly the matching ones are counted, each under its current name.
func (r *Receiver) reconcile() error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	// In listing (ifindex) order, so that slots go to interfaces predictably.
	ordered := make([]linkInfo, len(links))
	current := make(map[int]linkInfo, len(links))
	for i, nl := range links {
		ordered[i] = linkInfoOf(nl)
		current[ordered[i].index] = ordered[i]
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	for index, a := range r.attached {
		if l, ok := current[index]; !ok || l.name != a.name || !a.alive() {
			r.detachLocked(index)
		}
	}
	for index := range r.skipped {
		if _, ok := current[index]; !ok {
			delete(r.skipped, index)
		}
	}
	// Drop counts to delete: of interfaces deleted or renamed since the last
	// listing, and of any index deleted and taken again unseen.
	forget := map[int]bool{}
	for index := range r.gone {
		forget[index] = true
	}
	linkNames := make(map[int]string, len(current))
	for index, l := range current {
		if old, ok := r.linkNames[index]; ok && old != l.name {
			forget[index] = true
		}
		linkNames[index] = l.name
	}
	r.linkNames = linkNames
	r.forgetDropsLocked(forget)
	for _, a := range r.attached {
		if a.facts.masterIndex != 0 {
			r.setInfoLocked(a) // its master may have been renamed
		}
	}
	r.mu.Unlock()
	// One interface at a time: loading its programs takes tens of
	// milliseconds, and collections and probes must not wait for them all.
	for _, l := range ordered {
		r.mu.Lock()
		if !r.closed {
			r.applyLocked(l)
		}
		r.mu.Unlock()
	}
	names := make(map[string]bool, len(current))
	for _, l := range current {
		names[l.name] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetFailuresLocked(names, "")
	r.reportMissingLocked(names)
	return nil
}

// forgetFailuresLocked drops the attach-failure series of interface gone, or,
// when gone is "", of every interface not in existing: on a host where
// interfaces come and go (a veth per container) they would otherwise pile up.
// The not_found series of configured names that do not exist stay.
func (r *Receiver) forgetFailuresLocked(existing map[string]bool, gone string) {
	for k := range r.failures {
		if r.missing[k.iface] {
			continue
		}
		if (gone != "" && k.iface == gone) || (gone == "" && !existing[k.iface]) {
			delete(r.failures, k)
		}
	}
}

// reportMissingLocked warns about, and counts once as not_found, every
// include pattern naming one interface literally (no glob characters) that
// does not exist.
func (r *Receiver) reportMissingLocked(names map[string]bool) {
	for _, pattern := range r.cfg.Interfaces.Include {
		if strings.ContainsAny(pattern, `*?[\`) || names[pattern] || r.missing[pattern] {
			continue
		}
		r.missing[pattern] = true
		r.log.Warn("configured interface does not exist (yet)", zap.String("interface", pattern))
		r.failLocked(pattern, bpf.Receive, r.ingressHookKind(), reasonNotFound)
	}
}

// linkInfoOf extracts what attaching needs from a netlink link.
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
func (a *attachment) alive() bool {
	for _, h := range a.hooks {
		if h.link.Ifindex() != a.index {
			return false
		}
	}
	return true
}
