package rules

import "testing"

// A condition on predicted.* acts on predictions only: it says so
// (OnPredictions), matches a predicted score, and never matches a measured
// response, which has no predicted scores. Other conditions do not read
// predictions.
func TestPredictedVariable(t *testing.T) {
	env, err := NewResponseEnv(testTouchpoint())
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.Compile(`predicted.detractor > 0.8 && customer.tier == "Gold"`)
	if err != nil {
		t.Fatal(err)
	}
	if !p.OnPredictions() {
		t.Error("OnPredictions() = false for a condition on predicted.detractor")
	}
	measured := testResponse()
	measured.Customer.Tier = "Gold"
	if ok, _ := p.Eval(measured); ok {
		t.Error("a measured response matched a condition on predicted.detractor")
	}
	scored := testResponse()
	scored.Customer.Tier = "Gold"
	scored.Answers = nil
	scored.Predicted = map[string]float64{PredictedKey("Detractor"): 0.93}
	if ok, err := p.Eval(scored); !ok || err != nil {
		t.Errorf("Eval(predicted 0.93, Gold) = %v, %v; want true", ok, err)
	}
	scored.Predicted["detractor"] = 0.5
	if ok, _ := p.Eval(scored); ok {
		t.Error("Eval(predicted 0.5) matched > 0.8")
	}
	plain, err := env.Compile(`customer.tier == "Gold"`)
	if err != nil {
		t.Fatal(err)
	}
	if plain.OnPredictions() {
		t.Error("OnPredictions() = true for a condition that reads no prediction")
	}
	if PredictedKey("BottomTwoBox") != "bottomTwoBox" || PredictedKey("Mean") != "mean" {
		t.Errorf("PredictedKey: %q, %q", PredictedKey("BottomTwoBox"), PredictedKey("Mean"))
	}
}
