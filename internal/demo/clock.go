package demo

import (
	"sync"
	"time"
)

// Clock is the demo's clock: it starts at the wall clock's now and runs at
// one speed (simulated seconds per real second) until Accelerate switches
// it to another, without a jump. Collectors and controllers get its Now.
//
// HoldAt paces it: the simulated time stops at the given instant until a
// later HoldAt lets it go on (again without a jump). The demo holds it a
// little ahead of the work that has to keep up with it (waking the
// controllers, the simulated team), so a slow or loaded machine runs the
// same simulated days more slowly instead of skipping through them.
type Clock struct {
	real  func() time.Time
	start time.Time

	mu sync.Mutex
	// from is the real time the current speed began at, and sim the
	// simulated time then.
	from, sim time.Time
	speed     float64
	// hold is where the simulated time stops; zero is no hold.
	hold time.Time
	// frozen keeps the hold where Freeze put it, until Accelerate.
	frozen bool
}

// NewClock returns a clock at the wall clock's now, running speed times
// faster than it (speed 1 is the wall clock).
func NewClock(speed float64) *Clock {
	now := time.Now()
	return &Clock{real: time.Now, start: now, from: now, sim: now, speed: max(speed, 1)}
}

// Now is the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

// now is Now with c.mu held. At the hold the clock restarts its count from
// there, so that a later hold continues from it rather than jumping by the
// real time spent waiting.
func (c *Clock) now() time.Time {
	wall := c.real()
	t := c.at(wall)
	if !c.hold.IsZero() && t.After(c.hold) {
		c.sim, c.from = c.hold, wall
		return c.hold
	}
	return t
}

// HoldAt stops the simulated time at t (or lets it go on to t, from a
// hold before it). A t before the current time does not turn the clock
// back: it holds it where it is.
func (c *Clock) HoldAt(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return
	}
	cur := c.now()
	if t.Before(cur) {
		t = cur
	}
	c.hold = t
}

func (c *Clock) at(wall time.Time) time.Time {
	return c.sim.Add(time.Duration(float64(wall.Sub(c.from)) * c.speed))
}

// Freeze stops the simulated time where it is, whatever HoldAt asks,
// until Accelerate: the summary is read at one simulated instant.
func (c *Clock) Freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold, c.frozen = c.now(), true
}

// Accelerate continues from the current simulated time at speed (after a
// Freeze, from the next HoldAt on).
func (c *Clock) Accelerate(speed float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sim, c.from, c.speed = c.now(), c.real(), max(speed, 1)
	c.frozen = false
}

// Speed is the current speed.
func (c *Clock) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}

// Elapsed is the simulated time since the clock started.
func (c *Clock) Elapsed() time.Duration { return c.Now().Sub(c.start) }

// RealDuration is how long simulated duration d takes on the wall clock at
// the current speed.
func (c *Clock) RealDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.Speed())
}
