package config

import (
	"errors"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "cfg.yaml", Line: 4, Column: 9, Key: "xdp.mode", Msg: "bad"}, "cfg.yaml:4:9: xdp.mode: bad"},
		{Error{File: "cfg.yaml", Line: 4, Key: "xdp.mode", Msg: "bad"}, "cfg.yaml:4: xdp.mode: bad"},
		{Error{File: "cfg.yaml", Column: 9, Key: "xdp.mode", Msg: "bad"}, "cfg.yaml: xdp.mode: bad"},
		{Error{File: "cfg.yaml", Msg: "bad"}, "cfg.yaml: bad"},
		{Error{Key: "xdp.mode", Msg: "bad"}, "xdp.mode: bad"},
		{Error{Line: 2, Column: 3, Msg: "bad"}, "2:3: bad"},
		{Error{Msg: "bad"}, "bad"},
	}
	for _, test := range tests {
		if got := test.err.Error(); got != test.want {
			t.Errorf("%+v.Error() = %q, want %q", test.err, got, test.want)
		}
	}
}

func TestErrorsJoinAndUnwrap(t *testing.T) {
	first := &Error{File: "a", Line: 1, Column: 2, Key: "k", Msg: "one"}
	second := &Error{File: "a", Line: 3, Column: 4, Key: "l", Msg: "two"}
	var err error = Errors{first, nil, second}
	if got, want := err.Error(), "a:1:2: k: one\na:3:4: l: two"; got != want {
		t.Fatalf("Errors.Error() = %q, want %q", got, want)
	}
	var problem *Error
	if !errors.As(err, &problem) || problem != first {
		t.Fatalf("errors.As found %v, want the first problem", problem)
	}
	if !errors.Is(err, second) {
		t.Fatal("errors.Is does not find the second problem")
	}
}

func TestErrorsAsErrorSortsByPosition(t *testing.T) {
	unlocated := &Error{Key: "x", Msg: "no position"}
	late := &Error{Line: 9, Column: 1, Msg: "late"}
	early := &Error{Line: 2, Column: 5, Msg: "early"}
	earlier := &Error{Line: 2, Column: 1, Msg: "earlier"}
	got := Errors{unlocated, late, early, earlier}.asError().(Errors)
	want := Errors{earlier, early, late, unlocated}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted order = %v, want %v", got, want)
		}
	}
	if Errors(nil).asError() != nil {
		t.Fatal("empty Errors must convert to a nil error")
	}
}
