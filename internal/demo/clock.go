package demo

import (
	"sync"
	"time"
)

// Clock is the demo's clock: it starts at the wall clock's now and runs at
// one speed (simulated seconds per real second) until Accelerate switches
// it to another, without a jump. Collectors and controllers get its Now.
type Clock struct {
	real  func() time.Time
	start time.Time

	mu sync.Mutex
	// from is the real time the current speed began at, and sim the
	// simulated time then.
	from, sim time.Time
	speed     float64
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
	return c.at(c.real())
}

func (c *Clock) at(wall time.Time) time.Time {
	return c.sim.Add(time.Duration(float64(wall.Sub(c.from)) * c.speed))
}

// Accelerate continues from the current simulated time at speed.
func (c *Clock) Accelerate(speed float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.real()
	c.sim, c.from, c.speed = c.at(now), now, max(speed, 1)
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
