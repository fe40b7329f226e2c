package v1alpha1

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time, written as a Go duration ("90m", "24h",
// "1h30m") or with days and weeks ("7d", "2w", "1d12h"), where a day is 24
// hours and a week 7 days: the units people use for deadlines, windows and
// retention, and the ones the collector's metrics API accepts. It is stored
// as written and read back as a time.Duration.
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:MaxLength=32
type Duration struct {
	time.Duration `json:"-"`
}

// durationPart is one number and unit of a duration.
var durationPart = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d|w)`)

// ParseDuration reads a duration such as "24h", "7d", "2w" or "1d12h30m"
// (a Go duration, plus d for 24 hours and w for 7 days), optionally
// negative ("-1h").
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if s == "0" {
		return 0, nil
	}
	if s == "" || !strings.ContainsAny(s, "dw") {
		d, err := time.ParseDuration(orig)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration; write it as 90m, 24h, 7d or 2w", orig)
		}
		return d, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		loc := durationPart.FindStringSubmatchIndex(rest)
		if loc == nil || loc[0] != 0 {
			return 0, fmt.Errorf("%q is not a duration; write it as 90m, 24h, 7d or 2w", orig)
		}
		num, unit := rest[loc[2]:loc[3]], rest[loc[4]:loc[5]]
		var part time.Duration
		switch unit {
		case "d", "w":
			n, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("%q is not a duration; write it as 90m, 24h, 7d or 2w", orig)
			}
			day := 24 * time.Hour
			if unit == "w" {
				day *= 7
			}
			part = time.Duration(n * float64(day))
		default:
			var err error
			if part, err = time.ParseDuration(num + unit); err != nil {
				return 0, fmt.Errorf("%q is not a duration; write it as 90m, 24h, 7d or 2w", orig)
			}
		}
		total += part
		rest = rest[loc[1]:]
	}
	if neg {
		total = -total
	}
	return total, nil
}

// UnmarshalJSON reads a duration string (see ParseDuration).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as 24h or 7d: %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as Go does ("168h0m0s").
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.Duration.String())
}

// ToUnstructured writes the duration as a string for unstructured objects.
func (d Duration) ToUnstructured() any {
	return d.Duration.String()
}
