package domain

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// CarryOutRetention erases only when the plan removes something, asks for
// exactly the plan's records, reports them sorted (never nil, for the
// report's JSON) and passes an erasure's failure through.
func TestCarryOutRetention(t *testing.T) {
	at := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name        string
		plan        RetentionPlan
		erased      []string
		eraseErr    error
		wantCalls   int
		wantAsked   []string
		wantRemoved []string
		wantTouched []string
		wantErr     error
	}{
		{name: "nothing due", plan: RetentionPlan{Held: []RetentionItem{{RecordID: "h"}}}, wantRemoved: []string{}},
		{name: "two due", plan: RetentionPlan{Remove: []RetentionItem{{RecordID: "b"}, {RecordID: "a"}}},
			erased: []string{"b", "a"}, wantCalls: 1, wantAsked: []string{"b", "a"}, wantRemoved: []string{"a", "b"}, wantTouched: []string{"t:team_a"}},
		{name: "erasure fails", plan: RetentionPlan{Remove: []RetentionItem{{RecordID: "a"}}},
			eraseErr: boom, wantCalls: 1, wantAsked: []string{"a"}, wantRemoved: []string{}, wantErr: boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			var asked []string
			run, touched, err := CarryOutRetention(at, tc.plan, func(req ErasureRequest) (ErasureResult, error) {
				calls++
				asked = req.Erase
				if req.Kind != ErasureRetention {
					t.Errorf("erasure kind %q, want %q", req.Kind, ErasureRetention)
				}
				return ErasureResult{Erased: tc.erased, Touched: []string{"t:team_a"}}, tc.eraseErr
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if calls != tc.wantCalls || !reflect.DeepEqual(asked, tc.wantAsked) {
				t.Errorf("erase called %d times with %v, want %d with %v", calls, asked, tc.wantCalls, tc.wantAsked)
			}
			if run.Removed == nil || !reflect.DeepEqual(run.Removed, tc.wantRemoved) {
				t.Errorf("removed %#v, want %#v", run.Removed, tc.wantRemoved)
			}
			if !reflect.DeepEqual(touched, tc.wantTouched) {
				t.Errorf("touched %v, want %v", touched, tc.wantTouched)
			}
			if !run.At.Equal(at) || run.Held != len(tc.plan.Held) {
				t.Errorf("run at %v held %d, want %v and %d", run.At, run.Held, at, len(tc.plan.Held))
			}
		})
	}
}
