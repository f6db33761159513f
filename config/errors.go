package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// maxReportedErrors caps how many problems one Errors value lists; the rest
// are summarised in a final entry.
const maxReportedErrors = 50

// Error is one configuration problem, with its location.
type Error struct {
	// File is the file name given to Parse, "environment" for ApplyEnv, or
	// empty when the Config was built in code.
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Key is the dotted key path, with list items as interfaces.include[1]
	// (or an environment variable name); empty for whole-document problems.
	Key string
	// Msg describes the problem.
	Msg string
}

// Error formats the problem as "FILE:LINE:COL: KEY: MSG", leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	location := e.File
	if e.Line > 0 {
		location = strings.TrimPrefix(location+":"+strconv.Itoa(e.Line), ":")
		if e.Column > 0 {
			location += ":" + strconv.Itoa(e.Column)
		}
	}
	parts := slices.DeleteFunc([]string{location, e.Key}, func(part string) bool { return part == "" })
	return strings.Join(append(parts, e.Msg), ": ")
}

// Errors is several problems; Parse reports all it finds, not just the first.
type Errors []*Error

// Error joins the problems with newlines.
func (es Errors) Error() string {
	if err := errors.Join(es.Unwrap()...); err != nil {
		return err.Error()
	}
	return ""
}

// Unwrap returns the problems, so that errors.As can find an *Error.
func (es Errors) Unwrap() []error {
	unwrapped := make([]error, 0, len(es))
	for _, e := range es {
		if e != nil {
			unwrapped = append(unwrapped, e)
		}
	}
	return unwrapped
}

// asError returns nil for no problems, otherwise the problems sorted by
// position and capped at maxReportedErrors.
func (es Errors) asError() error {
	if len(es) == 0 {
		return nil
	}
	sorted := slices.Clone(es)
	slices.SortStableFunc(sorted, comparePositions)
	if len(sorted) <= maxReportedErrors {
		return sorted
	}
	omitted := len(sorted) - maxReportedErrors
	summary := &Error{File: sorted[0].File, Msg: fmt.Sprintf("too many problems: %d more not shown", omitted)}
	return append(sorted[:maxReportedErrors:maxReportedErrors], summary)
}

// comparePositions orders errors by line and column, those without last.
func comparePositions(a, b *Error) int {
	orLast := func(n int) int { return cmp.Or(max(n, 0), math.MaxInt) }
	return cmp.Or(cmp.Compare(orLast(a.Line), orLast(b.Line)), cmp.Compare(orLast(a.Column), orLast(b.Column)))
}
