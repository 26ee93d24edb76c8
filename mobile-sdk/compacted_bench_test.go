package mobilesdk

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/text/texttrace"
)

// BenchmarkCompactedTraceNote measures what taking the server's compacted
// text saves a phone on a long-revised note: the automerge-paper trace
// (one person writing a paper, typing and deleting again) typed into one
// note on phone 1, 100 edits a save, as far as an encounter's note may go
// (20,000 characters), and synced to phone 2. The server then compacts the note, and each phone's
// next pull brings the compacted state. It reports each phone's stored
// copy before and after, and the bytes of that pull against an idle one.
// Run: go test -run XXX -bench CompactedNote -benchtime 1x ./mobile-sdk/
func BenchmarkCompactedNote(b *testing.B) {
	patches := paperPatches(b)
	// As far as the note may go: the schema's bound on an encounter note.
	for n, length := 0, 0; n < len(patches); n++ {
		if length += len([]rune(patches[n].Ins)) - patches[n].Del; length > 20000 {
			patches = patches[:n]
			break
		}
	}
	b.Run("paper", func(b *testing.B) { compactedNoteBench(b, patches) })
	b.Run("churn", func(b *testing.B) { compactedNoteBench(b, churnPatches(10000)) })
}

// churnPatches are n keystrokes at random places (seeded) that keep a note
// near 60 characters: most of what is typed is deleted again.
func churnPatches(n int) []texttrace.Patch {
	rng := rand.New(rand.NewPCG(1, 7))
	out := make([]texttrace.Patch, 0, n)
	length := 0
	for range n {
		if length > 8 && rng.IntN(60) < length {
			out = append(out, texttrace.Patch{Pos: rng.IntN(length), Del: 1})
			length--
		} else {
			out = append(out, texttrace.Patch{Pos: rng.IntN(length + 1), Ins: string(rune('a' + rng.IntN(26)))})
			length++
		}
	}
	return out
}

func compactedNoteBench(b *testing.B, patches []texttrace.Patch) {
	const perSave = 100
	for range b.N {
		s := startE2EServer(b)
		p1, p2 := s.teamPhone("w_a"), s.phone("w_a2")
		id := mustS(b)(p1.CreateEncounter(`{"area":"Docks","note":""}`))
		for i := 0; i < len(patches); i += perSave {
			batch := patches[i:min(i+perSave, len(patches))]
			must(b, p1.edit(func(tx *syncengine.Txn, _ string) error {
				for _, p := range batch {
					if p.Del > 0 {
						if err := tx.DeleteText(syncengine.RecordID(id), "note", p.Pos, p.Del); err != nil {
							return err
						}
					}
					if p.Ins != "" {
						if err := tx.InsertText(syncengine.RecordID(id), "note", p.Pos, p.Ins); err != nil {
							return err
						}
					}
				}
				return nil
			}))
		}
		for range 2 {
			syncOK(b, p1)
			syncOK(b, p2)
		}
		before1, before2 := storedBytes(b, p1, id), storedBytes(b, p2, id)
		res, err := s.db.CompactText(context.Background(), 0, 0)
		must(b, err)
		if res.Compacted != 1 {
			b.Fatalf("compaction: %+v", res)
		}
		took := syncSum(b, p2)
		idle := syncSum(b, p2)
		syncSum(b, p1)
		after1, after2 := storedBytes(b, p1, id), storedBytes(b, p2, id)
		// Sent only when worth a download (domain.CompactedWorthSending).
		sent := took.Compacted == 1
		if sent && (after1 != after2 || int64(after2) != res.BytesAfter) || !sent && (after1 != before1 || after2 != before2) {
			b.Fatalf("phone 2 took %d compacted states; copies after: %d and %d bytes, the server's %d", took.Compacted, after1, after2, res.BytesAfter)
		}
		if got, want := str(b, view(b, p1, id), "note"), str(b, view(b, p2, id), "note"); got != want {
			b.Fatal("the phones' notes differ after compaction")
		}
		b.ReportMetric(float64(before1), "typing-phone-B-before")
		b.ReportMetric(float64(before2), "other-phone-B-before")
		b.ReportMetric(float64(after2), "B-after")
		b.ReportMetric(float64(res.BytesAfter), "server-B-after")
		b.ReportMetric(float64(took.BytesDown), "pull-B")
		b.ReportMetric(float64(idle.BytesDown), "idle-pull-B")
		b.Logf("%d edits, %d characters: phones stored %d and %d bytes before; the server compacted %d -> %d; sent to phones: %v; phones store %d and %d after; that pull %d bytes, an idle pull %d",
			len(patches), len([]rune(str(b, view(b, p2, id), "note"))), before1, before2, res.BytesBefore, res.BytesAfter, sent, after1, after2, took.BytesDown, idle.BytesDown)
	}
}

// paperPatches reads the automerge-paper trace (syncengine/testdata).
func paperPatches(tb testing.TB) []texttrace.Patch {
	tb.Helper()
	f, err := os.Open("../syncengine/testdata/automerge-paper.json.gz")
	must(tb, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	must(tb, err)
	var tr texttrace.Trace
	must(tb, json.NewDecoder(zr).Decode(&tr))
	var out []texttrace.Patch
	for _, tx := range tr.Txns {
		out = append(out, tx.Patches...)
	}
	return out
}
