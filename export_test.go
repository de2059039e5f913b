package rota

// KickSchedules wakes the schedule firing loop of a leading client, for
// tests that move a fake clock (the loop's timer runs on the wall clock).
func (c *Client) KickSchedules() {
	if n := c.runningNode(); n != nil {
		n.fire.wake()
	}
}
