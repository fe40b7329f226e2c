package collector

import "testing"

func TestFirstNameOfAUserName(t *testing.T) {
	for user, want := range map[string]string{
		"maria.lopez": "Maria", "maria_lopez@acme.example": "Maria", "Maria Lopez": "Maria",
		"priya": "Priya", "élodie-martin": "Élodie", "": "",
	} {
		if got := FirstNameOf(user); got != want {
			t.Errorf("FirstNameOf(%q) = %q, want %q", user, got, want)
		}
	}
}
