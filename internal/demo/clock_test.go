package demo

import (
	"testing"
	"time"
)

// The clock runs at the replay speed, then at the accelerated one, without
// a jump when it switches.
func TestClockAccelerate(t *testing.T) {
	wall := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c := NewClock(1)
	c.real, c.start, c.from, c.sim = func() time.Time { return wall }, wall, wall, wall

	wall = wall.Add(30 * time.Second)
	if got := c.Elapsed(); got != 30*time.Second {
		t.Fatalf("after 30 s at speed 1: %s simulated, want 30s", got)
	}
	c.Accelerate(3600)
	if got := c.Elapsed(); got != 30*time.Second {
		t.Fatalf("accelerating jumped the clock to %s, want 30s", got)
	}
	wall = wall.Add(2 * time.Second)
	if got, want := c.Elapsed(), 2*time.Hour+30*time.Second; got != want {
		t.Errorf("2 s at speed 3600: %s simulated, want %s", got, want)
	}
	if got := c.RealDuration(time.Hour); got != time.Second {
		t.Errorf("a simulated hour takes %s at speed 3600, want 1s", got)
	}
}
