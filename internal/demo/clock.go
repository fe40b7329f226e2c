package demo

import "time"

// Clock is the demo's accelerated clock: from its start it runs Speed
// times faster than the wall clock, so a simulated day passes in 24 s at
// speed 3600. Collectors and controllers get its Now.
type Clock struct {
	start time.Time
	speed float64
	real  func() time.Time
}

// NewClock returns a clock that starts at the wall clock's now and runs
// speed times faster (speed 1 is the wall clock).
func NewClock(speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	return &Clock{start: time.Now(), speed: speed, real: time.Now}
}

// Now is the simulated time.
func (c *Clock) Now() time.Time {
	return c.start.Add(time.Duration(float64(c.real().Sub(c.start)) * c.speed))
}

// Elapsed is the simulated time since the clock started.
func (c *Clock) Elapsed() time.Duration { return c.Now().Sub(c.start) }

// RealDuration is how long simulated duration d takes on the wall clock.
func (c *Clock) RealDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}
