package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotahq/rota"
)

func newNodesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "nodes", Short: "Show the rota nodes (serve processes) that use the store"}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the registered nodes: host, pid, leader, state, heartbeat, queues and kinds",
		Long: "rota nodes ls lists the nodes in the store's node registry. A node is alive while it\n" +
			"heartbeats (every third of its ROTA_LEASE_DURATION), stale once it missed " + fmt.Sprint(rota.NodeStaleBeats) + " heartbeats\n" +
			"(it died, hangs or cannot reach the store), and stopped after a graceful stop.\n" +
			"The leader runs the rescuer and the pruner for all nodes. Nodes silent for\n" +
			rota.NodeRetention.String() + " are pruned.",
		Args: rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, err := a.existingBackend(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			ns, err := c.Nodes(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				if ns == nil {
					ns = []rota.NodeInfo{}
				}
				return printJSON(a.stdout, ns)
			}
			now := time.Now()
			rows := make([][]string, len(ns))
			for i, n := range ns {
				rows[i] = []string{n.ID, orDash(n.Host), fmt.Sprint(n.PID), fmt.Sprint(n.Leader), string(n.State),
					fmtTime(n.StartedAt), fmtTime(n.HeartbeatAt) + " (" + fmtAge(now.Sub(n.HeartbeatAt)) + ")",
					orDash(strings.Join(n.Queues, ",")), truncate(orDash(strings.Join(n.Kinds, ",")), 60), orDash(n.Version)}
			}
			return table(a.stdout, []string{"NODE", "HOST", "PID", "LEADER", "STATE", "STARTED", "LAST HEARTBEAT",
				"QUEUES", "KINDS", "VERSION"}, rows)
		},
	}
	cmd.AddCommand(ls)
	return cmd
}

// fmtAge is a duration for people: "850ms ago", "12s ago", "3m20s ago".
func fmtAge(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Second:
		return d.Round(time.Millisecond).String() + " ago"
	case d < time.Hour:
		return d.Round(time.Second).String() + " ago"
	}
	return d.Round(time.Minute).String() + " ago"
}
