package demo

import (
	"path/filepath"
	"reflect"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	cxscheme "github.com/cxloop/cxloop/internal/scheme"
)

// sampleProgram loads config/samples as the demo does, with the SMTP sink
// on port 2525 and the webhook sink on 127.0.0.1:1.
func sampleProgram(t *testing.T) *Program {
	t.Helper()
	repo, err := FindRepo(".")
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadProgram(filepath.Join(repo, "config", "samples"), cxscheme.New(), Sinks{
		SMTPPort: 2525, HookURL: func(ch string) string { return "http://127.0.0.1:1/hooks/" + ch },
		SMSURL: func(ch string) string {
			return "http://127.0.0.1:2/sms/" + ch + "/2010-04-01/Accounts/ACdemo/Messages.json"
		},
		SMSAccount: "ACdemo", SMSToken: "demo-token",
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sampleTouchpoints are the touchpoints of config/samples.
func sampleTouchpoints(t *testing.T) []cxv1alpha1.SurveyTouchpoint {
	t.Helper()
	var tps []cxv1alpha1.SurveyTouchpoint
	for _, obj := range sampleProgram(t).Objects {
		if tp, ok := obj.(*cxv1alpha1.SurveyTouchpoint); ok {
			tps = append(tps, *tp)
		}
	}
	if len(tps) != 2 {
		t.Fatalf("samples hold %d touchpoints, want upgrade-install and relationship-nps", len(tps))
	}
	return tps
}

// The same seed replays the same answers; another seed others.
func TestGeneratorSeeded(t *testing.T) {
	tps := sampleTouchpoints(t)
	a, b, c := NewGenerator(7, tps, 500), NewGenerator(7, tps, 500), NewGenerator(8, tps, 500)
	same, differs := true, false
	for range 200 {
		ja, jb, jc := a.Next(), b.Next(), c.Next()
		same = same && reflect.DeepEqual(ja, jb)
		differs = differs || !reflect.DeepEqual(ja, jc)
	}
	if !same {
		t.Error("two generators with seed 7 made different answers")
	}
	if !differs {
		t.Error("seeds 7 and 8 made the same answers")
	}
}

// The stream has what the sample rules react to: failed installations,
// hard installations, NPS detractors and promoters, all three tiers, and
// comments of both tones.
func TestGeneratorMix(t *testing.T) {
	g := NewGenerator(1, sampleTouchpoints(t), 2000)
	counts := map[string]int{}
	for range 2000 {
		j := g.Next()
		counts["tier "+j.Customer.Tier]++
		switch j.Touchpoint {
		case "upgrade-install":
			if j.Answers["completed"] == false {
				counts["failed"]++
			}
			if ease, _ := j.Answers["ease"].(int); ease <= 5 {
				counts["hard"]++
			}
		case "relationship-nps":
			nps, ok := j.Answers["recommend"].(int)
			switch {
			case !ok:
			case nps <= 6:
				counts["detractor"]++
			case nps >= 9:
				counts["promoter"]++
			}
		}
		if j.Comment != "" {
			counts["comment"]++
		}
	}
	for _, k := range []string{"tier Gold", "tier Silver", "tier Bronze", "failed", "hard", "detractor", "promoter", "comment"} {
		if counts[k] < 20 {
			t.Errorf("%d answers of kind %q in 2000, want at least 20: %v", counts[k], k, counts)
		}
	}
	if counts["promoter"] <= counts["detractor"] {
		t.Errorf("more detractors (%d) than promoters (%d): the program's NPS should be positive", counts["detractor"], counts["promoter"])
	}
	if counts["failed"] > 2000/5 {
		t.Errorf("%d failed installations in 2000 answers: too many to be realistic", counts["failed"])
	}
}

// Customers are people at accounts: an account holds several of them, and
// they share its tier, segment and company (the nps-detractor rule opens
// one Case per account).
func TestGeneratorAccounts(t *testing.T) {
	g := NewGenerator(1, sampleTouchpoints(t), 800)
	people := map[string][]Customer{}
	for _, c := range g.customers {
		people[c.Account] = append(people[c.Account], c)
	}
	if len(people) < 2 || len(people) > len(g.customers)/2 {
		t.Fatalf("%d customers in %d accounts, want several people per account", len(g.customers), len(people))
	}
	for account, cs := range people {
		for _, c := range cs[1:] {
			if c.Tier != cs[0].Tier || c.Segment != cs[0].Segment || c.Company != cs[0].Company {
				t.Errorf("account %s: %+v and %+v differ in tier, segment or company", account, cs[0], c)
			}
		}
	}
}
