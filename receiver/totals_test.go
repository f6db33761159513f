package receiver_test

import (
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// TestTotals: the totals the live view samples equal what was sent, per
// direction, for the counted interface only, with what it is.
func TestTotals(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true, DisableOffloads: true})
	recv := startCounting(t, b, pair.NameB, func(c *config.Config) { c.Egress.Enabled = true })
	sink := testtraffic.ListenUDP(t, b, pair.IPv4B.Addr())
	const count = 25
	size := testtraffic.SendUDP(t, a, pair.IPv4A.Addr(), sink.Addr, count, 100)
	want := receiver.InterfaceTotals{Name: pair.NameB, Kind: attribution.KindVeth,
		Receive: receiver.Counted{Packets: count, Bytes: uint64(count * size)}}
	var got []receiver.InterfaceTotals
	waitFor(t, 5*time.Second, "the datagrams in the totals", func() bool {
		got = got[:0]
		if err := recv.Totals(func(t receiver.InterfaceTotals) { got = append(got, t) }); err != nil {
			t.Fatal(err)
		}
		return len(got) == 1 && got[0] == want
	})
}
