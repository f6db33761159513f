package main

import (
	_ "embed"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/template"
)

// num formats a figure with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "–"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// signed formats a difference with its sign.
func signed(v float64) string {
	if v >= 0 {
		return "+" + num(v)
	}
	return num(v)
}

// integer formats a count with thousands separators.
func integer(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// reportWriter renders results, remembering what was missing.
type reportWriter struct {
	w   io.Writer
	r   results
	err error
}

func (w *reportWriter) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.w, format, args...)
	}
}

// value returns the median of unit in benchmark name, NaN if not reported.
func (w *reportWriter) value(name, unit string) float64 {
	v, ok := w.r.get(name, unit)
	if !ok {
		return math.NaN()
	}
	return v
}

// cell formats "median ±spread" of unit in benchmark name, scaled by scale,
// with a sign for differences.
func (w *reportWriter) cell(name, unit string, scale float64, diff bool) string {
	v := w.value(name, unit) * scale
	if math.IsNaN(v) {
		return "–"
	}
	spread, hasSpread := w.r.get(name, "spread-"+unit)
	spread *= scale
	d := decimals(v, spread)
	s := strconv.FormatFloat(v, 'f', d, 64)
	if diff && v >= 0 {
		s = "+" + s
	}
	if hasSpread {
		s += " ±" + strconv.FormatFloat(spread, 'f', d, 64)
	}
	return s
}

// percent formats "median ±spread" of a percentage in benchmark name with
// one decimal: its spread, not its median, sets the precision that means
// anything.
func (w *reportWriter) percent(name, unit string) string {
	v := w.value(name, unit)
	if math.IsNaN(v) {
		return "–"
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if spread, ok := w.r.get(name, "spread-"+unit); ok {
		s += " ±" + strconv.FormatFloat(spread, 'f', 1, 64)
	}
	return s
}

// decimals returns how many decimals show a median v and its spread: about
// three significant digits of v, more if the spread would show as zero, none
// for the whole numbers the kernel reports (and their halves).
func decimals(v, spread float64) int {
	whole := func(x float64) bool { return x == math.Trunc(x) }
	if (math.Abs(v) >= 1 || v == 0) && whole(2*v) && whole(2*spread) {
		if whole(v) && whole(spread) {
			return 0
		}
		return 1
	}
	d := 0
	switch a := math.Abs(v); {
	case a >= 100:
		d = 0
	case a >= 10:
		d = 1
	case a >= 1:
		d = 2
	default:
		d = 3
	}
	for i := 0; i < 2 && spread > 0 && spread < math.Pow(10, -float64(d)); i++ {
		d++
	}
	return d
}

// prose is the report's text, a template per passage (prose.tmpl).
//
//go:embed prose.tmpl
var proseText string

var prose = template.Must(template.New("prose.tmpl").Option("missingkey=error").Parse(proseText))

// text writes the passage name of prose.tmpl with the values of data.
func (w *reportWriter) text(name string, data map[string]string) {
	if w.err == nil {
		w.err = prose.ExecuteTemplate(w.w, name, data)
	}
}
