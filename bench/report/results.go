package main

import (
	"bufio"
	"regexp"
	"strconv"
	"strings"
)

// results maps a benchmark name (without the GOMAXPROCS suffix) to its
// reported metrics by unit.
type results map[string]map[string]float64

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads the result lines of `go test -bench` output:
// "BenchmarkName-2   10   123 ns/op   4.5 unit ...".
func (r results) parse(output string) {
	sc := bufio.NewScanner(strings.NewReader(output))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue
		}
		metrics := map[string]float64{}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			metrics[fields[i+1]] = v
		}
		r[procsSuffix.ReplaceAllString(fields[0], "")] = metrics
	}
}

// get returns metric unit of benchmark name, and whether it was reported.
func (r results) get(name, unit string) (float64, bool) {
	v, ok := r[name][unit]
	return v, ok
}
