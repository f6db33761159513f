package testexporter

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// nameValidation is the one scheme Parse validates metric and label names
// with: the legacy Prometheus names ([a-zA-Z_:][a-zA-Z0-9_:]*), the names
// packet-exporter serves (its Prometheus exporter escapes the OpenTelemetry
// names to underscores). A name outside it fails the parse.
var nameValidation = model.LegacyValidation

// Metrics is a parsed Prometheus text exposition: its metric families by
// name.
type Metrics map[string]*dto.MetricFamily

// Parse parses a Prometheus text exposition. Every metric and label name must
// be a legacy Prometheus name.
func Parse(r io.Reader) (Metrics, error) {
	parser := expfmt.NewTextParser(nameValidation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse exposition: %w", err)
	}
	return families, nil
}

// Get fetches url with client and returns the body. A status other than 200
// is an error.
func Get(client *http.Client, url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// Scrape fetches url with client and parses the exposition (see Get and
// Parse); it returns the text too.
func Scrape(client *http.Client, url string) (Metrics, string, error) {
	body, err := Get(client, url)
	if err != nil {
		return nil, string(body), err
	}
	m, err := Parse(bytes.NewReader(body))
	return m, string(body), err
}

// Sample is one sample of a counter, gauge or untyped metric.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Samples returns the counter, gauge and untyped samples of the family name
// (its full name, with _total for a counter) whose labels include all of
// match.
func (m Metrics) Samples(name string, match map[string]string) []Sample {
	var out []Sample
	for _, metric := range m[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range metric.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if !includes(labels, match) {
			continue
		}
		var v float64
		switch {
		case metric.Counter != nil:
			v = metric.GetCounter().GetValue()
		case metric.Gauge != nil:
			v = metric.GetGauge().GetValue()
		case metric.Untyped != nil:
			v = metric.GetUntyped().GetValue()
		default:
			continue
		}
		out = append(out, Sample{Labels: labels, Value: v})
	}
	return out
}

// Sum adds up the samples that Samples returns, and says how many there were.
func (m Metrics) Sum(name string, match map[string]string) (float64, int) {
	samples := m.Samples(name, match)
	var sum float64
	for _, s := range samples {
		sum += s.Value
	}
	return sum, len(samples)
}

// HistogramCount adds up the sample counts of the histogram family name
// whose labels include all of match, and says how many series there were.
func (m Metrics) HistogramCount(name string, match map[string]string) (uint64, int) {
	var count uint64
	n := 0
	for _, metric := range m[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range metric.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if metric.Histogram == nil || !includes(labels, match) {
			continue
		}
		count += metric.GetHistogram().GetSampleCount()
		n++
	}
	return count, n
}

// Series counts the samples of every family.
func (m Metrics) Series() int {
	n := 0
	for _, family := range m {
		n += len(family.GetMetric())
	}
	return n
}

// includes reports whether labels has every label of match, with its value.
func includes(labels, match map[string]string) bool {
	for k, v := range match {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
