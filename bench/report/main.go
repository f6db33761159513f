// Command report runs packet-exporter's benchmark suite and writes
// BENCHMARKS.md: `make bench` runs it as
//
//	go run ./bench/report -out BENCHMARKS.md
//
// It runs each benchmark of bench/ and the collection and scrape benchmarks
// of receiver/ with `go test -bench`, streams their output, reads back the
// metrics they report (medians and spreads computed inside each benchmark,
// every figure next to its baseline from the same run) and renders them with
// the machine, kernel, date and the goals, met or not. With -smoke
// (`make bench-smoke`, what CI runs) every benchmark of the module runs once
// at a small size and nothing is written. The benchmarks need root.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	out := flag.String("out", "", "write the report to this file (default: print nothing but the benchmarks' output)")
	benchtime := flag.String("benchtime", "10x", "iterations of each benchmark but the user-space load (always one)")
	loadDuration := flag.Duration("load-duration", 45*time.Second, "duration of each phase of the user-space load benchmark")
	smoke := flag.Bool("smoke", false, "run every benchmark of the module once at a small size, write nothing (CI)")
	flag.Parse()
	if err := run(*out, *benchtime, *loadDuration, *smoke); err != nil {
		fmt.Fprintln(os.Stderr, "bench/report:", err)
		os.Exit(1)
	}
}

// step is one `go test -bench` invocation.
type step struct {
	pkgs      []string
	bench     string
	benchtime string
	args      []string // after -args
}

func run(out, benchtime string, loadDuration time.Duration, smoke bool) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	var steps []step
	if smoke {
		others, err := otherPackages(root)
		if err != nil {
			return err
		}
		steps = []step{
			{pkgs: []string{"./bench"}, bench: ".", benchtime: "1x", args: []string{"-pe.smoke"}},
			{pkgs: others, bench: ".", benchtime: "1x"},
		}
	} else {
		steps = []step{
			{pkgs: []string{"./bench"}, bench: "^BenchmarkKernelCost$", benchtime: benchtime},
			{pkgs: []string{"./bench"}, bench: "^BenchmarkRealTraffic$", benchtime: benchtime},
			{pkgs: []string{"./bench"}, bench: "^BenchmarkDrops$", benchtime: "5x"},
			{pkgs: []string{"./bench"}, bench: "^BenchmarkTCPThroughput$", benchtime: benchtime},
			{pkgs: []string{"./bench"}, bench: "^BenchmarkEventStream$", benchtime: benchtime},
			{pkgs: []string{"./bench"}, bench: "^BenchmarkUserSpaceLoad$", benchtime: "1x", args: []string{"-pe.load-duration=" + loadDuration.String()}},
			{pkgs: []string{"./receiver"}, bench: "^Benchmark(Collect|Scrape|Live)$", benchtime: benchtime},
			{pkgs: []string{"./receiver"}, bench: "^BenchmarkDeviceCollect$", benchtime: "40x"},
			{pkgs: []string{"./receiver"}, bench: "^BenchmarkLiveSummary$", benchtime: "40x"},
			{pkgs: []string{"./bench"}, bench: "^BenchmarkStartup$", benchtime: benchtime},
			{pkgs: []string{"./bench"}, bench: "^BenchmarkNewInterface$", benchtime: "3x"},
			{pkgs: []string{"./bench"}, bench: "^BenchmarkChurn$", benchtime: "1x"},
			{pkgs: []string{"./bench"}, bench: "^BenchmarkRestarts$", benchtime: "3x"},
		}
	}
	loadBefore := loadAverage()
	start := time.Now()
	results := results{}
	var failed []string
	for _, s := range steps {
		output, err := goTest(root, s)
		results.parse(output)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s %s: %v", strings.Join(s.pkgs, " "), s.bench, err))
		}
	}
	took := time.Since(start)
	if len(failed) > 0 {
		return fmt.Errorf("benchmarks failed, no report written:\n  %s", strings.Join(failed, "\n  "))
	}
	m := describeMachine(root)
	m.load = loadBefore + " before, " + loadAverage() + " after"
	if smoke {
		// Render anyway, so that CI checks the report code too.
		if err := render(io.Discard, results, m, took, benchtime, loadDuration); err != nil {
			return err
		}
		fmt.Printf("bench/report: smoke run of %d benchmarks passed in %s (no report written)\n", len(results), took.Round(time.Second))
		return nil
	}
	var buf bytes.Buffer
	if err := render(&buf, results, m, took, benchtime, loadDuration); err != nil {
		return err
	}
	if out == "" {
		_, err := os.Stdout.Write(buf.Bytes())
		return err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out) // relative to the module root, like the Makefile
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("bench/report: wrote %s (suite took %s)\n", out, took.Round(time.Second))
	return nil
}

// loadAverage returns the 1-minute load average: anything else running on
// the machine during the suite disturbs it, and the report says so.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	p := strings.TrimSpace(string(gomod))
	if p == "" || p == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(p), nil
}

// otherPackages lists the module's packages but bench/ and its tools.
func otherPackages(root string) ([]string, error) {
	cmd := exec.Command("go", "list", "./...")
	cmd.Dir = root
	listed, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []string
	for _, p := range strings.Fields(string(listed)) {
		if !strings.Contains(p, "/packet-exporter/bench") {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, nil
}

// goTest runs one step, streaming its output, and returns the output.
func goTest(root string, s step) (string, error) {
	args := []string{"test", "-run", "^$", "-bench", s.bench, "-benchtime", s.benchtime, "-timeout", "30m"}
	args = append(args, s.pkgs...)
	if len(s.args) > 0 {
		args = append(append(args, "-args"), s.args...)
	}
	fmt.Printf("bench/report: go %s\n", strings.Join(args, " "))
	var buf bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Stdout = io.MultiWriter(os.Stdout, &buf)
	cmd.Stderr = io.MultiWriter(os.Stderr, &buf)
	err := cmd.Run()
	return buf.String(), err
}
