package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newMigrateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring the store's schema to the newest version (serve does this at start too)",
		Args:  rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.localOnly(cmd); err != nil {
				return err
			}
			// It logs the migrations it applies at INFO: they are its report.
			a.storeNotes = true
			st, err := a.openStore(cmd.Context()) // migrates
			if err != nil {
				return err
			}
			defer st.Close()
			applied, latest, err := st.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, map[string]any{"driver": st.Driver(), "applied": applied, "latest": latest})
			}
			if applied > latest {
				fmt.Fprintf(a.stdout, "%s schema at version %d, newer than this rota knows (%d): upgrade rota\n", st.Driver(), applied, latest)
				return nil
			}
			fmt.Fprintf(a.stdout, "%s schema at version %d of %d\n", st.Driver(), applied, latest)
			return nil
		},
	}
}
