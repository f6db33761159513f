package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/live"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestLiveSummaryAndDetail runs the binary while UDP of known rate flows
// towards the counted interface: the live view's summary, sampled by the
// agent every second, lists the interface with its received rate near what
// is sent, a trend and no transmitted traffic; an idle interface is only
// counted; the interface's detail carries its history.
func TestLiveSummaryAndDetail(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	idle := testenv.NewVethPair(t, a, b, testenv.VethOptions{Quiet: true})
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
interfaces:
  include: [%q, %q]
prometheus:
  listen_address: "127.0.0.1:9743"
`, pair.NameA, idle.NameA))
	e := startExporter(t, a, []string{bin, "--config", cfgPath}, nil)
	get := func(path string, v any) {
		t.Helper()
		var lastErr error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			code, body, err := e.Get(path)
			if err == nil && code == 200 {
				if err := json.Unmarshal([]byte(body), v); err != nil {
					t.Fatalf("GET %s: %v\n%s", path, err, body)
				}
				return
			}
			lastErr = fmt.Errorf("status %d: %v", code, err)
		}
		t.Fatalf("GET %s: %v", path, lastErr)
	}
	// Both interfaces sampled once: their history starts.
	var s live.Summary
	for deadline := time.Now().Add(10 * time.Second); len(s.Interfaces) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the summary does not list both interfaces within 10s: %+v", s)
		}
		get(live.Path+"?view=summary&idle=1", &s)
	}

	// 200 datagrams a second for 4 seconds.
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	const perSecond, seconds = 200, 4
	var frame int
	for range seconds * 10 {
		frame = testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), netip.AddrPortFrom(pair.IPv4A.Addr(), sink.Addr.Port()), perSecond/10, 64)
		time.Sleep(100 * time.Millisecond)
	}

	time.Sleep(live.HistoryInterval + 200*time.Millisecond) // a sample after the last datagram
	get(live.Path+"?view=summary", &s)
	if len(s.Interfaces) != 1 || s.Interfaces[0].Name != pair.NameA || s.Idle != 1 {
		t.Fatalf("summary: %+v, want %s busy and one idle interface", s, pair.NameA)
	}
	row := s.Interfaces[0]
	t.Logf("%s: %+v, trend %v", row.Name, row.Now, row.Trend)
	// The last window may end after the traffic did: the busiest of the
	// trend's windows is compared.
	var busiest float32
	for _, bits := range row.Trend {
		busiest = max(busiest, bits)
	}
	wantBits := float32(8 * perSecond * frame)
	if busiest < wantBits/2 || busiest > 2*wantBits || row.Kind != "veth" || len(row.Trend) < seconds-1 {
		t.Errorf("%s: busiest window %g bit/s, kind %q, %d windows; want about %g bit/s of a veth over %d windows",
			row.Name, busiest, row.Kind, len(row.Trend), wantBits, seconds)
	}
	if s.Host.Now != (live.Rates{}) {
		t.Errorf("host: %+v, want nothing: no device is counted", s.Host.Now)
	}
	get(live.Path+"?view=summary&idle=1", &s)
	if len(s.Interfaces) != 2 {
		t.Errorf("summary with the idle interfaces: %+v", s.Interfaces)
	}

	var d live.Detail
	get(live.Path+"?interface="+pair.NameA, &d)
	// The windows' packets add up to what was sent, but for the first
	// window's, whose length the history does not give.
	var received float64
	for i := 1; i < len(d.History.Rates); i++ {
		received += float64(d.History.Rates[i].ReceivePackets) * float64(d.History.Times[i]-d.History.Times[i-1]) / 1000
	}
	first := float64(d.History.Rates[0].ReceivePackets) * live.HistoryInterval.Seconds()
	if sent := float64(perSecond * seconds); d.Interface.Receive.Packets != perSecond*seconds ||
		math.Abs(received+first-sent) > 0.1*sent || len(d.History.Rates) < seconds {
		t.Errorf("detail of %s: %d packets, %d windows adding up to %.1f packets (and about %.0f in the first); want %g",
			d.Interface.Name, d.Interface.Receive.Packets, len(d.History.Rates), received, first, sent)
	}
}
