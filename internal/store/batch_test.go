package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/testutil"
)

// TestSaveManyInOneCall saves 150 responses in one call, more than one
// multi-row statement holds, with every kind of answer mixed in: one
// whose action is not JSON, repeats of an id in the call and from before,
// one id with another body, a usable and an unusable token. Each gets its
// own answer and the one bad response loses none of the others.
func TestSaveManyInOneCall(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, _ := e.open(t, Config{Now: testutil.NewClock(t0).Now})
		if err := s.RecordInvitation(ctx, Invitation{TokenID: "tok", Touchpoint: "tp", CustomerID: "cust-r-90",
			IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		old := newResponse("tp", "old", t0)
		old.BodyHash = "h-old"
		before := saveOne(t, s, old)

		const n = 150
		rs := make([]NewResponse, n)
		for i := range rs {
			rs[i] = newResponse("tp", fmt.Sprintf("r-%d", i), t0)
			rs[i].BodyHash = fmt.Sprintf("h-%d", i)
			if i%3 != 0 {
				rs[i].Actions = []NewAction{{Kind: ActionOpenCase, Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}}
			}
		}
		rs[70].Actions = []NewAction{{Kind: ActionNotify, Payload: json.RawMessage(`{not json`)}}
		rs[90].TokenID = "tok"
		rs[91].TokenID = "no-such-token"
		rs[100] = rs[10]
		rs[120] = rs[20]
		rs[120].BodyHash = "another body"
		rs[130] = old

		res, err := s.SaveResponses(ctx, rs)
		if err != nil {
			t.Fatal(err)
		}
		want := func(i int) SaveStatus {
			switch i {
			case 70:
				return StatusFailed
			case 91:
				return StatusTokenRejected
			case 100, 130:
				return StatusDuplicate
			case 120:
				return StatusConflict
			}
			return StatusStored
		}
		seqs := map[int64]int{}
		stored, actions := 0, 0
		for i, r := range res {
			if r.Status != want(i) {
				t.Errorf("response %d (%s): %v %v, want %v", i, rs[i].ID, r.Status, r.Err, want(i))
			}
			if r.Status != StatusStored {
				continue
			}
			if j, seen := seqs[r.Receipt.Seq]; seen || r.Receipt.Seq == 0 || !r.Receipt.ReceivedAt.Equal(t0) {
				t.Errorf("response %d: receipt %+v (also response %d's)", i, r.Receipt, j)
			}
			seqs[r.Receipt.Seq] = i
			// The receipt names the row a read finds.
			if got, err := s.GetResponse(ctx, "tp", rs[i].ID); err != nil || got.Seq != r.Receipt.Seq {
				t.Errorf("response %d: stored with seq %d, read back %d, %v", i, r.Receipt.Seq, got.Seq, err)
			}
			stored++
			actions += len(rs[i].Actions)
		}
		if res[100].Receipt != res[10].Receipt || res[120].Receipt != res[20].Receipt || res[130].Receipt != before.Receipt {
			t.Errorf("repeats answered %+v, %+v, %+v; want the receipts %+v, %+v, %+v",
				res[100].Receipt, res[120].Receipt, res[130].Receipt, res[10].Receipt, res[20].Receipt, before.Receipt)
		}
		if stored != n-5 {
			t.Errorf("%d stored, want %d", stored, n-5)
		}
		if total, _, _, err := s.Counts(ctx, "tp", time.Time{}); err != nil || total != int64(stored+1) {
			t.Errorf("Counts total = %d, %v; want %d", total, err, stored+1)
		}
		if _, err := s.GetResponse(ctx, "tp", "r-70"); err == nil {
			t.Error("the response whose action is not JSON was stored")
		}
		if depth, _, err := s.OutboxStats(ctx); err != nil || depth != int64(actions) {
			t.Errorf("outbox depth = %d, %v; want %d (the actions of the stored responses)", depth, err, actions)
		}
	})
}
