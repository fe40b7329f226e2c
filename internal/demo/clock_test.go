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

// A held clock stops at the hold, and a later hold lets it go on from
// there without the real time spent waiting.
func TestClockHold(t *testing.T) {
	wall := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c := NewClock(3600)
	c.real, c.start, c.from, c.sim = func() time.Time { return wall }, wall, wall, wall

	c.HoldAt(wall.Add(2 * time.Hour))
	wall = wall.Add(time.Second)
	if got := c.Elapsed(); got != time.Hour {
		t.Fatalf("1 s at speed 3600 before the hold: %s simulated, want 1h", got)
	}
	wall = wall.Add(10 * time.Second) // would be 11 h without the hold
	if got := c.Elapsed(); got != 2*time.Hour {
		t.Fatalf("held at 2h: clock at %s", got)
	}
	c.HoldAt(c.start.Add(5 * time.Hour))
	if got := c.Elapsed(); got != 2*time.Hour {
		t.Fatalf("releasing the hold jumped the clock to %s, want 2h", got)
	}
	wall = wall.Add(time.Second)
	if got := c.Elapsed(); got != 3*time.Hour {
		t.Errorf("1 s after the release: %s simulated, want 3h", got)
	}
	// A hold in the past holds the clock where it is, never turns it back.
	c.HoldAt(c.start)
	wall = wall.Add(time.Second)
	if got := c.Elapsed(); got != 3*time.Hour {
		t.Errorf("a hold before now: clock at %s, want it held at 3h", got)
	}
}

// A frozen clock stands still whatever HoldAt asks, until Accelerate and
// the next hold let it go on.
func TestClockFreeze(t *testing.T) {
	wall := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c := NewClock(3600)
	c.real, c.start, c.from, c.sim = func() time.Time { return wall }, wall, wall, wall

	wall = wall.Add(time.Second)
	c.Freeze()
	c.HoldAt(c.start.Add(10 * time.Hour))
	wall = wall.Add(5 * time.Second)
	if got := c.Elapsed(); got != time.Hour {
		t.Fatalf("frozen at 1h: clock at %s", got)
	}
	c.Accelerate(1)
	c.HoldAt(c.start.Add(10 * time.Hour))
	wall = wall.Add(time.Minute)
	if got := c.Elapsed(); got != time.Hour+time.Minute {
		t.Errorf("a minute at the wall clock's pace after the freeze: clock at %s, want 1h1m", got)
	}
}
