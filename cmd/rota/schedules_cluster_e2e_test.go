package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/rotahq/rota"
)

// leaderOf returns the id of the node that leads now ("" if none).
func (c *cluster) leaderOf() string {
	c.t.Helper()
	out, _, code := c.e.cli("nodes", "ls", "--json")
	if code != 0 {
		return ""
	}
	var ns []rota.NodeInfo
	if err := jsonUnmarshal(out, &ns); err != nil {
		return ""
	}
	for _, n := range ns {
		if n.Leader && n.State == rota.NodeAlive {
			return n.ID
		}
	}
	return ""
}

// TestClusterScheduleExactlyOnce runs a schedule firing every second on
// three `rota serve` processes on PostgreSQL, SIGKILLs the leader mid-way,
// and checks that every fire time from the first to the last made exactly
// one job: none twice (the compare-and-set), none lost over the failover
// (misfire all, within the grace window).
func TestClusterScheduleExactlyOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "ROTA_QUEUES=default=8", "ROTA_LEASE_DURATION=2s", "ROTA_LEADER_LEASE=2s",
		"ROTA_SHUTDOWN_TIMEOUT=5s")
	for _, node := range []string{"n1", "n2", "n3"} {
		c.serve(node)
	}
	var leader string
	waitFor(t, 60*time.Second, "a leader", func() bool { leader = c.leaderOf(); return leader != "" })
	c.e.ok("schedules", "create", "tick", "--kind", recordKind, "--spec", "every 1 second", "--misfire", "all")
	const jobs = `SELECT count(*) FROM jobs WHERE metadata->>'rota.schedule' = 'tick'`
	waitFor(t, 60*time.Second, "5 fires", func() bool { return c.count(jobs) >= 5 })
	c.kill(leader)
	before := c.mustCount(jobs)
	var next string
	waitFor(t, 60*time.Second, "another leader", func() bool { next = c.leaderOf(); return next != "" && next != leader })
	waitFor(t, 60*time.Second, "5 fires under the new leader", func() bool { return c.count(jobs) >= before+5 })
	c.e.ok("schedules", "disable", "tick")
	for _, node := range []string{"n1", "n2", "n3"} {
		if node != leader {
			c.stop(node)
		}
	}
	total := c.mustCount(jobs)
	distinct := c.mustCount(`SELECT count(DISTINCT key) FROM jobs WHERE metadata->>'rota.schedule' = 'tick'`)
	span := c.mustCount(`SELECT extract(epoch FROM max((metadata->>'rota.fire_time')::timestamptz) -
		min((metadata->>'rota.fire_time')::timestamptz))::bigint + 1 FROM jobs WHERE metadata->>'rota.schedule' = 'tick'`)
	if total != distinct || total != span {
		t.Errorf("%d jobs, %d distinct fire keys, %d fire times from first to last: want all equal", total, distinct, span)
	}
	t.Logf("leader %s killed; %s took over; %d fires, each one job", leader, next, total)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
