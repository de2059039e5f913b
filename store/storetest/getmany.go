package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rotahq/rota/store"
)

// getManyTests check GetMany: the jobs of the ids that exist, as Get
// returns them but without the attempt history.
func getManyTests() []test {
	return []test{
		{"Found", func(t *testing.T, s store.Store) {
			jobs := insertN(t, s, base(), 5, func(i int) store.InsertParams {
				return params("k", withMeta("n", string(rune('a'+i))))
			})
			// A claimed and finished one has attempts, which GetMany leaves out.
			claimed := claimOne(t, s, at(time.Second), jobs[0].ID)
			finishDone(t, s, claimed, at(2*time.Second))
			ids := []int64{jobs[4].ID, jobs[0].ID, jobs[4].ID + 1000, jobs[2].ID}
			got, err := s.GetMany(t.Context(), ids)
			if err != nil {
				t.Fatalf("GetMany: %v", err)
			}
			want := []int64{jobs[0].ID, jobs[2].ID, jobs[4].ID}
			var gotIDs []int64
			for _, j := range got {
				gotIDs = append(gotIDs, j.ID)
				full := get(t, s, j.ID)
				full.Attempts = nil
				j.Attempts = nil
				if !reflect.DeepEqual(full, j) {
					t.Errorf("job %d: GetMany %+v, Get %+v", j.ID, *j, *full)
				}
			}
			slices.Sort(gotIDs)
			if !slices.Equal(gotIDs, want) {
				t.Errorf("GetMany(%v) = ids %v, want %v", ids, gotIDs, want)
			}
			got, err = s.GetMany(t.Context(), []int64{claimed.ID})
			if err != nil || len(got) != 1 || got[0].State != store.StateDone || len(got[0].Attempts) != 0 {
				t.Errorf("GetMany of a finished job = %v, %v; want it done, without attempts", got, err)
			}
		}},
		{"Empty", func(t *testing.T, s store.Store) {
			got, err := s.GetMany(t.Context(), nil)
			if err != nil || len(got) != 0 {
				t.Errorf("GetMany(nil) = %v, %v; want nothing", got, err)
			}
			got, err = s.GetMany(t.Context(), []int64{12345})
			if err != nil || len(got) != 0 {
				t.Errorf("GetMany(missing) = %v, %v; want nothing", got, err)
			}
		}},
		{"TooMany", func(t *testing.T, s store.Store) {
			if _, err := s.GetMany(t.Context(), make([]int64, store.MaxGetMany+1)); err == nil {
				t.Errorf("GetMany of %d ids: no error", store.MaxGetMany+1)
			}
		}},
	}
}
